/**
 * Where the `GPUDevice` comes from — the caller's, `navigator.gpu`'s (browsers, Deno), or dawn.node's
 * (the optional `webgpu` package in Node) — and how device errors become typed errors.
 */
/// <reference types="@webgpu/types" />
import { BackendError, BackendUnavailable } from "@spot/core/graph"
import { Effect } from "effect"

export interface DeviceOptions {
  /** A device to use (its owner destroys it); otherwise one is requested from `navigator.gpu` or dawn.node. */
  readonly device?: GPUDevice
  readonly powerPreference?: GPUPowerPreference
}

export interface AdapterReport {
  readonly vendor: string
  readonly architecture: string
  readonly description: string
  readonly fallback: boolean
  readonly source: "caller" | "navigator.gpu" | "webgpu (dawn.node)"
  readonly maxStorageBufferBindingSize: number
}

/** A device and where it came from; `owned` when this package requested it (and so must destroy it). */
export interface AcquiredDevice {
  readonly device: GPUDevice
  readonly adapter: GPUAdapter | undefined
  readonly source: AdapterReport["source"]
  readonly owned: boolean
}

const unavailable = (message: string) => new BackendUnavailable({ backend: "webgpu", message })

const SOFTWARE_HINT =
  "on Linux without a GPU, install libvulkan1 and point VK_ICD_FILENAMES at a software driver " +
  "(Debian's chromium ships /usr/lib/chromium/vk_swiftshader_icd.json)"

/** `navigator.gpu` where the runtime has it, else dawn.node from the optional `webgpu` package (one instance per process). */
let dawn: GPU | undefined
const findGpu = Effect.gen(function* () {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator
  if (nav?.gpu) return { gpu: nav.gpu, source: "navigator.gpu" as const }
  if (dawn) return { gpu: dawn, source: "webgpu (dawn.node)" as const }
  const name = "webgpu" // a variable, so that bundlers for the browser leave the import alone
  const mod = yield* Effect.tryPromise({
    try: () => import(/* @vite-ignore */ name) as Promise<{ create: (flags: string[]) => GPU; globals: object }>,
    catch: (e) =>
      unavailable(
        `navigator.gpu is not available and the optional \`webgpu\` package (dawn.node) cannot be loaded (an optional peer dependency: npm install webgpu; or pass a GPUDevice): ${String(e)}`,
      ),
  })
  // GPUBufferUsage, GPUMapMode, … as globals, as in a browser
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true })
  }
  dawn = mod.create([])
  return { gpu: dawn, source: "webgpu (dawn.node)" as const }
})

/** The caller's device, or a new one with the adapter's storage and workgroup limits. */
export const acquireDevice = (options: DeviceOptions): Effect.Effect<AcquiredDevice, BackendUnavailable> =>
  Effect.gen(function* () {
    if (options.device) {
      return { device: options.device, adapter: undefined, source: "caller" as const, owned: false }
    }
    const { gpu, source } = yield* findGpu
    const adapter = yield* Effect.tryPromise({
      try: () => gpu.requestAdapter({ powerPreference: options.powerPreference ?? "high-performance" }),
      catch: (e) => unavailable(`requestAdapter failed: ${String(e)}`),
    })
    if (!adapter) return yield* unavailable(`no WebGPU adapter (${source}); ${SOFTWARE_HINT}`)
    const l = adapter.limits
    const device = yield* Effect.tryPromise({
      try: () =>
        adapter.requestDevice({
          requiredLimits: {
            maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
            maxBufferSize: l.maxBufferSize,
            maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
            maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
            maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
          },
        }),
      catch: (e) => unavailable(`requestDevice failed: ${String(e)}`),
    })
    return { device, adapter, source, owned: true }
  })

/** Requests a device (with the adapter's storage and workgroup limits), for callers that share one across backends. */
export const requestDevice = (options: Omit<DeviceOptions, "device"> = {}) => Effect.map(acquireDevice(options), (g) => g.device)

/** What the adapter reports about itself (from the adapter, or from the caller's device). */
export const adapterReport = (got: AcquiredDevice): AdapterReport => {
  const info = got.adapter?.info ?? (got.device as { adapterInfo?: GPUAdapterInfo }).adapterInfo
  return {
    vendor: info?.vendor ?? "",
    architecture: info?.architecture ?? "",
    description: info?.description ?? "",
    fallback: (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ?? false,
    source: got.source,
    maxStorageBufferBindingSize: got.device.limits.maxStorageBufferBindingSize,
  }
}

/** Runs `f` inside validation and out-of-memory error scopes; a captured error becomes a BackendError. */
export const withErrorScopes = <A>(device: GPUDevice, backend: string, op: string, f: () => A) =>
  Effect.gen(function* () {
    device.pushErrorScope("out-of-memory")
    device.pushErrorScope("validation")
    const a = f()
    const validation = yield* Effect.promise(() => device.popErrorScope())
    const oom = yield* Effect.promise(() => device.popErrorScope())
    const e = validation ?? oom
    if (e) return yield* new BackendError({ backend, op, message: e.message })
    return a
  })
