/**
 * The ONNX Runtime backend: compiles IR graphs to ONNX and runs them on onnxruntime-node. The
 * execution provider is `cuda` when its provider library is installed and works, else `cpu` (the
 * embedded default); `webgpu` is onnxruntime's own WebGPU provider. Which provider was chosen, and
 * why the others were skipped, is reported in `providerReport`.
 */
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import type { BackendShape, HostTensor, Session } from "@spot/core/graph"
import { Backend, BackendError, BackendUnavailable, IR } from "@spot/core/graph"
import { Effect, Layer, Result } from "effect"
import type * as Ort from "onnxruntime-node"
import { compileToOnnx } from "./compile.ts"

export type Provider = "cpu" | "cuda" | "webgpu"
export interface OnnxOptions {
  /** `auto` (default): cuda when installed and working, else cpu. */
  readonly provider?: Provider | "auto"
  /** Intra-op threads (default: onnxruntime's choice, one per core). */
  readonly threads?: number
  /**
   * onnxruntime's CPU memory arena and memory-pattern planning (default false: buffers go back to
   * the system after each run, which keeps the peak of large backward passes lower).
   */
  readonly arena?: boolean
}
export interface ProviderReport {
  readonly chosen: Provider
  readonly skipped: ReadonlyArray<{ readonly provider: Provider; readonly reason: string }>
}
export interface OnnxBackendShape extends BackendShape {
  readonly providerReport: ProviderReport
}

const loadOrt = Effect.tryPromise({
  try: () => import("onnxruntime-node") as Promise<typeof Ort>,
  catch: (e) =>
    new BackendUnavailable({
      backend: "onnx",
      message: `onnxruntime-node cannot be loaded (an optional peer dependency: npm install onnxruntime-node): ${String(e)}`,
    }),
})

/** Where onnxruntime-node keeps its native libraries (the CUDA provider lands there when installed). */
const nativeDir = () => {
  try {
    const req = createRequire(import.meta.url)
    const root = dirname(req.resolve("onnxruntime-node/package.json"))
    return join(root, "bin", "napi-v6", process.platform, process.arch)
  } catch {
    return undefined
  }
}

/** A one-node model, to test that a provider can create a session. */
const probeModel = (): Uint8Array => {
  const x = IR.input("x", [1])
  const y = IR.neg(x)
  return Result.getOrThrow(compileToOnnx({ outputs: { y } }, [x, y], new Set())).bytes
}

/** The op type of the node an onnxruntime error names (`Name:'Gather_3'`, `Node (MatMul_12)`). */
const errorOp = (message: string) =>
  /running (\w+) node/.exec(message)?.[1] ??
  /Name:'([A-Za-z]+)_\d+'/.exec(message)?.[1] ??
  /Node \(([A-Za-z]+)_\d+\)/.exec(message)?.[1] ??
  "session"

const pickProvider = (ort: typeof Ort, want: Provider | "auto") =>
  Effect.gen(function* () {
    const skipped: { provider: Provider; reason: string }[] = []
    const tryProvider = (p: Provider) =>
      Effect.tryPromise({
        try: () => ort.InferenceSession.create(probeModel(), { executionProviders: [p] }).then((s) => s.release()),
        catch: (e) => String(e instanceof Error ? e.message : e),
      })
    const candidates: Provider[] = want === "auto" ? ["cuda", "cpu"] : [want]
    for (const p of candidates) {
      if (p === "cuda") {
        const dir = nativeDir()
        if (!dir || !existsSync(join(dir, "libonnxruntime_providers_cuda.so"))) {
          skipped.push({
            provider: "cuda",
            reason: "the CUDA provider is not installed (onnxruntime-node's install step downloads it; see README)",
          })
          continue
        }
      }
      const r = yield* Effect.result(tryProvider(p))
      if (Result.isSuccess(r)) return { chosen: p, skipped } satisfies ProviderReport
      skipped.push({ provider: p, reason: r.failure })
    }
    return yield* new BackendUnavailable({
      backend: `onnx:${want}`,
      message: `no execution provider works: ${skipped.map((s) => `${s.provider}: ${s.reason}`).join("; ")}`,
    })
  })

/** Transposes a 2-D weight once. */
const transpose2d = (t: HostTensor<"f32">): Float32Array => {
  const [r, c] = t.shape
  const out = new Float32Array(r * c)
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j]
  return out
}

export const makeOnnxBackend = (options: OnnxOptions = {}) =>
  Effect.gen(function* () {
    const ort = yield* loadOrt
    const report = yield* pickProvider(ort, options.provider ?? "auto")
    const name = `onnx:${report.chosen}`
    const fail = (op: string, message: string) => new BackendError({ backend: name, op, message })
    // weights are wrapped once per host buffer and shared by every session (never duplicated)
    const wrapped = new WeakMap<object, Ort.Tensor>()
    const wrappedT = new WeakMap<object, Ort.Tensor>()
    const weightTensor = (t: HostTensor, transposed: boolean): Ort.Tensor => {
      const cache = transposed ? wrappedT : wrapped
      const hit = cache.get(t.data)
      if (hit) return hit
      const f = t as HostTensor<"f32">
      const tensor = transposed
        ? new ort.Tensor("float32", transpose2d(f), [f.shape[1], f.shape[0]])
        : new ort.Tensor("float32", f.data, [...f.shape])
      cache.set(t.data, tensor)
      return tensor
    }
    const sessionOptions: Ort.InferenceSession.SessionOptions = {
      executionProviders: [report.chosen],
      graphOptimizationLevel: "all",
      enableCpuMemArena: options.arena ?? false,
      // errors come back as typed BackendErrors; the runtime's own log would repeat them on stderr
      logSeverityLevel: 4,
      enableMemPattern: options.arena ?? false,
      // idle pool threads must not spin: several sessions (shape buckets, evaluation) share the cores
      extra: { session: { intra_op: { allow_spinning: "0" }, inter_op: { allow_spinning: "0" } } },
      ...(options.threads ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
    }
    const compile: BackendShape["compile"] = (graph, weights) =>
      Effect.gen(function* () {
        const checked = IR.checkGraph(graph)
        if (Result.isFailure(checked)) return yield* fail(checked.failure.op, checked.failure.message)
        const lowered = compileToOnnx(graph, checked.success, new Set(weights.keys()))
        if (Result.isFailure(lowered)) return yield* fail(lowered.failure.op, lowered.failure.message)
        const model = lowered.success
        const session = yield* Effect.tryPromise({
          try: () => ort.InferenceSession.create(model.bytes, sessionOptions),
          catch: (e) => {
            const m = e instanceof Error ? e.message : String(e)
            return fail(errorOp(m), `${report.chosen} provider rejected the graph: ${m}`)
          },
        })
        const fixed: Record<string, Ort.Tensor> = {}
        for (const [onnxName, w] of model.weights) {
          const t = weights.get(w.name)
          if (!t) return yield* fail("input", `no weight bound for "${w.name}"`)
          fixed[onnxName] = weightTensor(t, w.transposed)
        }
        const inputShapes = new Map(
          IR.topo(Object.values(graph.outputs)).flatMap((n) => (n.op.kind === "input" ? [[n.op.name, n] as const] : [])),
        )
        const run: Session["run"] = (feeds) =>
          Effect.gen(function* () {
            const get = (k: string) => (feeds instanceof Map ? feeds.get(k) : (feeds as Record<string, HostTensor>)[k])
            const all: Record<string, Ort.Tensor> = { ...fixed }
            for (const [onnxName, irName] of model.feeds) {
              const t = get(irName)
              const node = inputShapes.get(irName) as IR.Node
              if (!t) return yield* fail("input", `no value fed for input "${irName}"`)
              if (t.shape.length !== node.shape.length || t.shape.some((d: number, i: number) => d !== node.shape[i])) {
                return yield* fail("input", `input "${irName}" expects [${node.shape}], got [${t.shape}]`)
              }
              if (node.dtype === "f32") {
                if (t.dtype !== "f32") return yield* fail("input", `input "${irName}" expects f32, got ${t.dtype}`)
                all[onnxName] = new ort.Tensor("float32", t.data as Float32Array, [...t.shape])
              } else {
                if (t.dtype === "f32") return yield* fail("input", `input "${irName}" expects integers, got f32`)
                const data = t.dtype === "i64" ? Int32Array.from(t.data as BigInt64Array, Number) : (t.data as Int32Array)
                all[onnxName] = new ort.Tensor("int32", data, [...t.shape])
              }
            }
            const res = yield* Effect.tryPromise({
              try: () => session.run(all),
              catch: (e) => {
                const m = e instanceof Error ? e.message : String(e)
                return fail(errorOp(m), m)
              },
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
          })
        return { run, dispose: Effect.promise(() => session.release()) } satisfies Session
      })
    return { name, compile, providerReport: report } satisfies OnnxBackendShape
  })

export const OnnxBackend = {
  /** The ONNX Runtime backend as the core `Backend` service. */
  layer: (options: OnnxOptions = {}) => Layer.effect(Backend, makeOnnxBackend(options)),
}
