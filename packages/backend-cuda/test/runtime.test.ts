import { OnnxBackend } from "@spot/backend-cuda"
import { Backend, type HostTensor, IR, referenceBackend, Tensor } from "@spot/core/graph"
import { Effect, Layer, Result } from "effect"
import { describe, expect, it } from "vitest"

const rand = (shape: number[], seed: number): HostTensor<"f32"> => {
  const n = shape.reduce((a, b) => a * b, 1)
  const data = new Float32Array(n)
  let s = seed
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    data[i] = s / 4294967296 - 0.5
  }
  return { dtype: "f32", shape, data }
}

/** x·Wᵀ (the hoisted transpose) and x·W·V: weights bound, x fed. */
const graph = () => {
  const x = IR.input("x", [3, 4])
  const w = IR.input("w", [4, 4])
  const v = IR.input("v", [4, 5])
  return { outputs: { a: IR.matmul(x, IR.transpose(w, [1, 0])), b: IR.matmul(IR.matmul(x, w), v) } }
}
const weights = new Map([
  ["w", rand([4, 4], 1)],
  ["v", rand([4, 5], 2)],
])
const feeds = { x: rand([3, 4], 3) }
const runOn = (layer: Layer.Layer<Backend, unknown>) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const b = yield* Backend
      const s = yield* b.compile(graph(), weights)
      return yield* s.run(feeds)
    }).pipe(Effect.provide(layer)) as Effect.Effect<Record<string, HostTensor>, unknown>,
  )

describe("ONNX backend: weight binding, runtime injection, scope", () => {
  it("weights as external initializers and as per-run inputs both equal the reference", async () => {
    const want = await runOn(Layer.succeed(Backend, referenceBackend))
    for (const mode of ["external", "inputs"] as const) {
      const got = await runOn(OnnxBackend.layer({ provider: "cpu", threads: 1, weights: mode }))
      for (const k of ["a", "b"]) {
        const w = want[k].data as Float32Array
        const g = got[k].data as Float32Array
        expect(got[k].shape).toEqual(want[k].shape)
        for (let i = 0; i < w.length; i++) expect(Math.abs(g[i] - w[i])).toBeLessThan(1e-5)
      }
    }
  })
  it("a runtime that cannot be loaded is BackendUnavailable naming the install command", async () => {
    const r = await Effect.runPromise(
      Effect.result(
        Effect.service(Backend).pipe(
          Effect.provide(
            OnnxBackend.layer({
              runtime: () => Promise.reject(new Error("Cannot find package 'onnxruntime-web' imported from x.js")),
            }),
          ),
        ),
      ),
    )
    expect(Result.isFailure(r) && r.failure).toMatchObject({ _tag: "BackendUnavailable" })
    expect(Result.isFailure(r) && r.failure.message).toContain("npm install onnxruntime-web")
  })
  it("sessions still open when the layer's scope closes are released", async () => {
    const session = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const ctx = yield* Layer.build(OnnxBackend.layer({ provider: "cpu", threads: 1 }))
          const b = Effect.runSync(Effect.service(Backend).pipe(Effect.provide(ctx)))
          const s = yield* b.compile(graph(), weights)
          const out = yield* s.run(feeds)
          expect(out.a.shape).toEqual([3, 4])
          return s
        }),
      ),
    )
    const after = await Effect.runPromise(Effect.result(session.run(feeds)))
    expect(Result.isFailure(after) && after.failure).toMatchObject({ _tag: "BackendError" })
    await Effect.runPromise(session.dispose) // disposing twice is harmless
  })
  it("a wrong weight is refused by Backend.make's checks before the runtime sees it", async () => {
    const r = await Effect.runPromise(
      Effect.result(
        Effect.gen(function* () {
          const b = yield* Backend
          return yield* b.compile(graph(), new Map([...weights, ["v", Tensor.f32([5, 4])]]))
        }).pipe(Effect.provide(OnnxBackend.layer({ provider: "cpu" }))),
      ),
    )
    expect(Result.isFailure(r) && r.failure).toMatchObject({ _tag: "BackendError", op: "input" })
    expect(Result.isFailure(r) && r.failure.message).toContain('weight "v"')
  })
})
