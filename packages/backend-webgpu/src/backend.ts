/**
 * The WebGPU backend: IR graphs planned into WGSL compute dispatches (`plan.ts`, `wgsl.ts`) and run
 * on a `GPUDevice` — the caller's, `navigator.gpu`'s (browsers, Deno), or dawn.node's (the optional
 * `webgpu` package in Node). Weights are uploaded once per device and stay resident across every
 * compiled shape; pipelines are cached per device by kernel source; a run writes the feeds, records
 * one compute pass and reads back only the graph's outputs.
 */
/// <reference types="@webgpu/types" />
import type { BackendShape, HostTensor, Session } from "@spot/core/graph"
import { Backend, BackendError, BackendUnavailable, IR } from "@spot/core/graph"
import { Effect, Layer, Result } from "effect"
import { buildPlan, DEFAULT_TILES, hostBytes, type Plan, type Tiles } from "./plan.ts"
import { PARAM_WORDS } from "./wgsl.ts"

export interface WebGpuOptions {
  /** A device to use (its owner destroys it); otherwise one is requested from `navigator.gpu` or dawn.node. */
  readonly device?: GPUDevice
  readonly powerPreference?: GPUPowerPreference
  /** Matmul tilings (for tuning on a new GPU; the defaults suit both software and NVIDIA adapters). */
  readonly tiles?: Tiles
  /**
   * Time every dispatch separately (each run also submits op by op and waits: much slower) and keep
   * the totals per op, read with `profile()`.
   */
  readonly profile?: boolean
}

export interface ProfileRow {
  /** The IR op (matmuls with their M×N×K×batch). */
  readonly op: string
  readonly ms: number
  readonly dispatches: number
}

export interface AdapterReport {
  readonly vendor: string
  readonly architecture: string
  readonly description: string
  readonly fallback: boolean
  readonly source: "caller" | "navigator.gpu" | "webgpu (dawn.node)"
  readonly maxStorageBufferBindingSize: number
}

export interface WebGpuBackendShape extends BackendShape {
  readonly adapter: AdapterReport
  readonly device: GPUDevice
  /** Time per op since the backend was made, slowest first (empty unless `profile` was set). */
  readonly profile: () => ReadonlyArray<ProfileRow>
}

const SLOT_BYTES = PARAM_WORDS * 4

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

/** Requests a device (with the adapter's storage and workgroup limits), for callers that share one across backends. */
export const requestDevice = (options: Omit<WebGpuOptions, "device"> = {}) => Effect.map(acquire(options), (g) => g.device)

const acquire = (options: WebGpuOptions) =>
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

/** Runs `f` inside validation and out-of-memory error scopes; a captured error becomes a BackendError. */
const scoped = <A>(device: GPUDevice, op: string, f: () => A) =>
  Effect.gen(function* () {
    device.pushErrorScope("out-of-memory")
    device.pushErrorScope("validation")
    const a = f()
    const validation = yield* Effect.promise(() => device.popErrorScope())
    const oom = yield* Effect.promise(() => device.popErrorScope())
    const e = validation ?? oom
    if (e) return yield* new BackendError({ backend: "webgpu", op, message: e.message })
    return a
  })

/**
 * Per device: pipelines by kernel source, and weights uploaded once per host buffer (shared by every
 * compiled graph and every backend instance on that device).
 */
const caches = new WeakMap<
  GPUDevice,
  { pipelines: Map<string, Promise<GPUComputePipeline>>; resident: WeakMap<object, GPUBuffer> }
>()
const cachesOf = (device: GPUDevice) => {
  let c = caches.get(device)
  if (!c) {
    c = { pipelines: new Map(), resident: new WeakMap() }
    caches.set(device, c)
  }
  return c
}

export const makeWebGpuBackend = (options: WebGpuOptions = {}) =>
  Effect.gen(function* () {
    const got = yield* Effect.acquireRelease(acquire(options), (g) =>
      Effect.sync(() => {
        if (g.owned) g.device.destroy()
      }),
    )
    const device = got.device
    const info = got.adapter?.info ?? (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo
    const adapter: AdapterReport = {
      vendor: info?.vendor ?? "",
      architecture: info?.architecture ?? "",
      description: info?.description ?? "",
      fallback: (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ?? false,
      source: got.source,
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
    }
    const name = `webgpu${adapter.vendor ? `:${adapter.vendor}` : ""}`
    const fail = (op: string, message: string) => new BackendError({ backend: name, op, message })
    const { pipelines, resident } = cachesOf(device)
    const profiled = new Map<string, { ms: number; dispatches: number }>()
    const pipeline = (source: string) => {
      let p = pipelines.get(source)
      if (!p) {
        const module = device.createShaderModule({ code: source })
        p = device.createComputePipelineAsync({ layout: "auto", compute: { module, entryPoint: "main" } })
        pipelines.set(source, p)
      }
      return p
    }
    const upload = (bytes: Uint8Array, usage: number, size = bytes.byteLength) => {
      const buf = device.createBuffer({ size: Math.max(16, Math.ceil(size / 16) * 16), usage, mappedAtCreation: true })
      new Uint8Array(buf.getMappedRange()).set(bytes)
      buf.unmap()
      return buf
    }
    const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST

    const compile: BackendShape["compile"] = (graph, weights) =>
      Effect.gen(function* () {
        const checked = IR.checkGraph(graph)
        if (Result.isFailure(checked)) return yield* fail(checked.failure.op, checked.failure.message)
        const planned = buildPlan(graph, checked.success, new Set(weights.keys()), device.limits, options.tiles ?? DEFAULT_TILES)
        if (Result.isFailure(planned)) return yield* fail(planned.failure.op, planned.failure.message)
        const plan: Plan = planned.success
        // check the bound weights before touching the device
        for (const b of plan.buffers) {
          if (b.role.kind !== "weight") continue
          const t = weights.get(b.role.name) as HostTensor
          const want = b.role
          if (t.shape.length !== want.shape.length || t.shape.some((d: number, i: number) => d !== want.shape[i])) {
            return yield* fail("input", `weight "${want.name}" expects [${want.shape}], got [${t.shape}]`)
          }
          if ((t.dtype === "f32") !== (want.dtype === "f32")) {
            return yield* fail("input", `weight "${want.name}" expects ${want.dtype}, got ${t.dtype}`)
          }
        }
        const kernels = [...new Set(plan.steps.map((s) => s.kernel))]
        const compiled = yield* Effect.tryPromise({
          try: () => Promise.all(kernels.map((k) => pipeline(k.source))),
          catch: (e) => fail("compile", `a WGSL pipeline failed to compile: ${String(e)}`),
        })
        const byKernel = new Map(kernels.map((k, i) => [k, compiled[i]]))
        return yield* scoped(device, "compile", () => {
          const owned: GPUBuffer[] = []
          const own = (b: GPUBuffer) => {
            owned.push(b)
            return b
          }
          const slots = plan.slotBytes.map((bytes) => own(device.createBuffer({ size: bytes, usage: STORAGE })))
          const feeds = new Map<string, { buf: GPUBuffer; shape: readonly number[]; dtype: IR.IRType }>()
          const gpuBuffers = plan.buffers.map((b, i): GPUBuffer => {
            switch (b.role.kind) {
              case "temp":
                return slots[plan.slotOf[i]]
              case "constant":
                return own(upload(b.role.data, STORAGE, b.bytes))
              case "weight": {
                const t = weights.get(b.role.name) as HostTensor
                const hit = resident.get(t.data)
                if (hit) return hit
                const buf = upload(hostBytes(t), STORAGE, b.bytes)
                resident.set(t.data, buf)
                return buf
              }
              case "feed": {
                const buf = own(device.createBuffer({ size: b.bytes, usage: STORAGE }))
                feeds.set(b.role.name, { buf, shape: b.role.shape, dtype: b.role.dtype })
                return buf
              }
              default:
                return slots[plan.slotOf[i]]
            }
          })
          const errBuf = own(device.createBuffer({ size: 16, usage: STORAGE }))
          const paramBytes = new Uint8Array(Math.max(1, plan.steps.length) * SLOT_BYTES)
          plan.steps.forEach((s, i) => {
            paramBytes.set(new Uint8Array(s.params.buffer), i * SLOT_BYTES)
          })
          const paramBuf = own(upload(paramBytes, GPUBufferUsage.UNIFORM))
          const encoded = plan.steps.map((s, i) => {
            const pipe = byKernel.get(s.kernel) as GPUComputePipeline
            const entries: GPUBindGroupEntry[] = [
              { binding: 0, resource: { buffer: paramBuf, offset: i * SLOT_BYTES, size: SLOT_BYTES } },
              ...s.reads.map((b, j) => ({ binding: j + 1, resource: { buffer: gpuBuffers[b] } })),
              { binding: s.reads.length + 1, resource: { buffer: gpuBuffers[s.write] } },
            ]
            if (s.kernel.errors) entries.push({ binding: s.reads.length + 2, resource: { buffer: errBuf } })
            return {
              pipe,
              group: device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries }),
              step: s,
            }
          })
          // steps over empty tensors have nothing to dispatch
          const live = encoded.filter((e) => e.step.grid[0] > 0)
          const record = (pass: GPUComputePassEncoder, e: (typeof encoded)[number]) => {
            pass.setPipeline(e.pipe)
            pass.setBindGroup(0, e.group)
            pass.dispatchWorkgroups(e.step.grid[0], e.step.grid[1], e.step.grid[2])
          }
          const outBytes = plan.outputs.reduce((a, o) => a + o.size * 4, 0) + 16

          const run: Session["run"] = (input) =>
            Effect.gen(function* () {
              const get = (k: string) => (input instanceof Map ? input.get(k) : (input as Record<string, HostTensor>)[k])
              for (const [feedName, f] of feeds) {
                const t = get(feedName)
                if (!t) return yield* fail("input", `no value fed for input "${feedName}"`)
                if (t.shape.length !== f.shape.length || t.shape.some((d: number, i: number) => d !== f.shape[i])) {
                  return yield* fail("input", `input "${feedName}" expects [${f.shape}], got [${t.shape}]`)
                }
                if ((t.dtype === "f32") !== (f.dtype === "f32")) {
                  return yield* fail("input", `input "${feedName}" expects ${f.dtype}, got ${t.dtype}`)
                }
              }
              yield* scoped(device, "input", () => {
                for (const [feedName, f] of feeds) device.queue.writeBuffer(f.buf, 0, hostBytes(get(feedName) as HostTensor))
              })
              if (options.profile) {
                // one submission per dispatch, waited on: slow, but it attributes time to ops
                for (const e of live) {
                  const enc = device.createCommandEncoder()
                  const pass = enc.beginComputePass()
                  record(pass, e)
                  pass.end()
                  const t0 = performance.now()
                  device.queue.submit([enc.finish()])
                  yield* Effect.promise(() => device.queue.onSubmittedWorkDone())
                  const st = e.step
                  const key = st.op === "matmul" ? `matmul ${st.params[0]}×${st.params[1]}×${st.params[2]}×${st.grid[2]}` : st.op
                  const row = profiled.get(key) ?? { ms: 0, dispatches: 0 }
                  profiled.set(key, { ms: row.ms + performance.now() - t0, dispatches: row.dispatches + 1 })
                }
              }
              const staging = yield* scoped(device, "run", () => {
                const enc = device.createCommandEncoder()
                enc.clearBuffer(errBuf)
                const pass = enc.beginComputePass()
                for (const e of live) record(pass, e)
                pass.end()
                const st = device.createBuffer({ size: outBytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST })
                let at = 0
                for (const o of plan.outputs) {
                  if (o.size > 0) enc.copyBufferToBuffer(gpuBuffers[o.buf], o.offset * 4, st, at, o.size * 4)
                  at += o.size * 4
                }
                enc.copyBufferToBuffer(errBuf, 0, st, at, 16)
                device.queue.submit([enc.finish()])
                return st
              })
              yield* Effect.tryPromise({
                try: () => staging.mapAsync(GPUMapMode.READ),
                catch: (e) => fail("run", `reading results back failed: ${String(e)}`),
              })
              const bytes = staging.getMappedRange().slice(0)
              staging.unmap()
              staging.destroy()
              const out: Record<string, HostTensor<"f32" | "i32">> = {}
              let at = 0
              for (const o of plan.outputs) {
                out[o.name] =
                  o.dtype === "f32"
                    ? { dtype: "f32", shape: o.shape, data: new Float32Array(bytes, at, o.size) }
                    : { dtype: "i32", shape: o.shape, data: new Int32Array(bytes, at, o.size) }
                at += o.size * 4
              }
              const err = new Uint32Array(bytes, at, 4)
              if (err[0] !== 0) {
                const step = plan.steps[err[0] - 1]
                const rows = step.params[2]
                return yield* fail(step.op, `id ${err[1] | 0} is outside [0, ${rows})`)
              }
              return out
            })
          return {
            run,
            dispose: Effect.sync(() => {
              for (const b of owned) b.destroy()
            }),
          } satisfies Session
        })
      })
    const profile = () => [...profiled].map(([op, r]) => ({ op, ...r })).sort((a, b) => b.ms - a.ms)
    return { name, compile, adapter, device, profile } satisfies WebGpuBackendShape
  })

export const WebGpuBackend = {
  /** The WebGPU backend as the core `Backend` service; fails with `BackendUnavailable` when no adapter exists. */
  layer: (options: WebGpuOptions = {}) => Layer.effect(Backend, makeWebGpuBackend(options)),
}
