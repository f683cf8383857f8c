/**
 * The ONNX Runtime backend: compiles IR graphs to ONNX and runs them on any implementation of
 * onnxruntime-common's API — onnxruntime-node by default (CUDA where its provider is installed, CPU
 * otherwise), onnxruntime-web (WASM, WebGPU) or another, injected as `runtime`. Graph, weight and
 * feed checks are `Backend.make`'s; this file supplies only `lower`, `execute` and `dispose`.
 * Which provider was chosen, and why the others were skipped, is reported in `providerReport`.
 */
import type { BackendShape, CheckedTensor, HostTensor } from "@spot/core/graph"
import { Backend, BackendError, type BackendUnavailable } from "@spot/core/graph"
import { Effect, Layer, Result, type Scope } from "effect"
import type * as Common from "onnxruntime-common"
import { type CompiledModel, compileToOnnx, type WeightMode } from "./compile.ts"
import { loadRuntime, type Provider, type ProviderReport, pickProvider, type RuntimeSource } from "./runtime.ts"

export type { OrtRuntime, Provider, ProviderReport, RuntimeSource } from "./runtime.ts"

export interface OnnxOptions {
  /** `auto` (default): cuda when installed and working, else cpu (cpu, then wasm, on an injected runtime). */
  readonly provider?: Provider | "auto"
  /**
   * The onnxruntime-common implementation to run on (default: onnxruntime-node, loaded lazily).
   * E.g. `runtime: () => import("onnxruntime-web")`.
   */
  readonly runtime?: RuntimeSource
  /** Intra-op threads (default: onnxruntime's choice, one per core). */
  readonly threads?: number
  /**
   * onnxruntime's CPU memory arena (default true: freed buffers are reused; without it every large
   * buffer is a fresh mmap whose page faults cost more than the elementwise op that fills it).
   */
  readonly arena?: boolean
  /**
   * Memory-pattern planning (default false: it keeps every buffer of a large backward pass at once,
   * 15.5 GB instead of 8.8 GB at T5 v1.1 base, 8 × 612).
   */
  readonly memoryPattern?: boolean
  /**
   * How weights are bound: `external` (default) as initializers whose bytes stay in the host buffers
   * (in-memory external data; constant MatMul operands are pre-packed), or `inputs`, fed per run.
   */
  readonly weights?: WeightMode
  /** Graph optimisation level (default `all`). */
  readonly optimization?: "disabled" | "basic" | "extended" | "all"
  /** Whether idle pool threads spin waiting for work (default false: sessions share the cores). */
  readonly spinning?: boolean
  /** Write onnxruntime's per-op profile (JSON, chrome trace format) with this file prefix. */
  readonly profilePrefix?: string
}

export interface OnnxBackendShape extends BackendShape {
  readonly providerReport: ProviderReport
}

interface Compiled {
  readonly session: Common.InferenceSession
  readonly model: CompiledModel
  /** Weights bound as per-run inputs (`weights: "inputs"` only). */
  readonly fixed: Readonly<Record<string, Common.Tensor>>
}

/** The op type of the node an onnxruntime error names (`Name:'Gather_3'`, `Node (MatMul_12)`). */
const errorOp = (message: string) =>
  /running (\w+) node/.exec(message)?.[1] ??
  /Name:'([A-Za-z]+)_\d+'/.exec(message)?.[1] ??
  /Node \(([A-Za-z]+)_\d+\)/.exec(message)?.[1] ??
  "session"

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** Transposes a 2-D weight once. */
const transpose2d = (t: HostTensor<"f32">): Float32Array => {
  const [r, c] = t.shape
  const out = new Float32Array(r * c)
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j]
  return out
}

const sessionOptions = (provider: Provider, options: OnnxOptions): Common.InferenceSession.SessionOptions => {
  const spin = options.spinning ? "1" : "0"
  return {
    executionProviders: [provider],
    graphOptimizationLevel: options.optimization ?? "all",
    enableCpuMemArena: options.arena ?? true,
    enableMemPattern: options.memoryPattern ?? false,
    // errors come back as typed BackendErrors; the runtime's own log would repeat them on stderr
    logSeverityLevel: 4,
    // idle pool threads must not spin by default: several sessions (shape buckets, evaluation) share the cores
    extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
    ...(options.threads ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
    ...(options.profilePrefix ? { enableProfiling: true, profileFilePrefix: options.profilePrefix } : {}),
  }
}

/** Builds the backend; sessions still open when the scope closes are released then. */
export const makeOnnxBackend = (options: OnnxOptions = {}): Effect.Effect<OnnxBackendShape, BackendUnavailable, Scope.Scope> =>
  Effect.gen(function* () {
    const ort = yield* loadRuntime(options.runtime)
    const report = yield* pickProvider(ort, options.provider ?? "auto", options.runtime !== undefined)
    const name = `onnx:${report.chosen}`
    const mode = options.weights ?? "external"
    const opts = sessionOptions(report.chosen, options)
    const fail = (op: string, message: string) => new BackendError({ backend: name, op, message })
    // a weight's transpose is computed once per host buffer and shared by every session
    const transposed = new WeakMap<object, Float32Array>()
    const weightData = (t: CheckedTensor, transpose: boolean): Float32Array => {
      const f = t as HostTensor<"f32">
      if (!transpose) return f.data
      const hit = transposed.get(f.data)
      if (hit) return hit
      const data = transpose2d(f)
      transposed.set(f.data, data)
      return data
    }
    const open = new Set<Common.InferenceSession>()
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        for (const s of open) await s.release().catch(() => undefined)
        open.clear()
      }),
    )
    const shape = Backend.make<Compiled>({
      name,
      lower: (checked) =>
        Effect.gen(function* () {
          const lowered = compileToOnnx(checked.graph, checked.nodes, new Set(checked.weights.keys()), mode)
          if (Result.isFailure(lowered)) return yield* fail(lowered.failure.op, lowered.failure.message)
          const model = lowered.success
          const fixed: Record<string, Common.Tensor> = {}
          const externalData: { path: string; data: Uint8Array }[] = []
          for (const [onnxName, w] of model.weights) {
            const t = checked.weights.get(w.name) as CheckedTensor
            const data = weightData(t, w.transposed)
            if (w.path !== undefined) {
              externalData.push({ path: w.path, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) })
            } else {
              const dims = w.transposed ? [t.shape[1], t.shape[0]] : [...t.shape]
              fixed[onnxName] = new ort.Tensor("float32", data, dims)
            }
          }
          const session = yield* Effect.tryPromise({
            try: () => ort.InferenceSession.create(model.bytes, externalData.length > 0 ? { ...opts, externalData } : opts),
            catch: (e) => fail(errorOp(messageOf(e)), `${report.chosen} provider rejected the graph: ${messageOf(e)}`),
          })
          open.add(session)
          return { session, model, fixed } satisfies Compiled
        }),
      execute: ({ session, model, fixed }, feeds) =>
        Effect.gen(function* () {
          const all: Record<string, Common.Tensor> = { ...fixed }
          for (const [onnxName, irName] of model.feeds) {
            const t = feeds.get(irName) as CheckedTensor
            all[onnxName] =
              t.dtype === "f32"
                ? new ort.Tensor("float32", t.data as Float32Array, [...t.shape])
                : new ort.Tensor("int32", t.data as Int32Array, [...t.shape])
          }
          const res = yield* Effect.tryPromise({
            try: () => session.run(all),
            catch: (e) => fail(errorOp(messageOf(e)), messageOf(e)),
          })
          const out: Record<string, HostTensor<"f32" | "i32">> = {}
          for (const o of model.outputs) {
            const t = res[o.onnx]
            out[o.name] =
              o.dtype === "f32"
                ? { dtype: "f32", shape: o.shape, data: t.data as Float32Array }
                : { dtype: "i32", shape: o.shape, data: t.data as Int32Array }
          }
          return out
        }),
      dispose: ({ session }) =>
        Effect.promise(async () => {
          if (!open.delete(session)) return
          if (options.profilePrefix) session.endProfiling()
          await session.release()
        }),
    })
    return { ...shape, providerReport: report } satisfies OnnxBackendShape
  })

export const OnnxBackend = {
  /** The ONNX Runtime backend as the core `Backend` service, scoped: its sessions are released with the scope. */
  layer: (options: OnnxOptions = {}): Layer.Layer<Backend, BackendUnavailable> => Layer.effect(Backend, makeOnnxBackend(options)),
}
