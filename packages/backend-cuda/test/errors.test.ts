import { OnnxBackend } from "@spot/backend-cuda"
import { Backend, IR, Tensor } from "@spot/core"
import { Effect, Result } from "effect"
import { describe, expect, it } from "vitest"

describe("ONNX backend errors are typed and name the provider and the op", () => {
  it("a provider that is not installed", async () => {
    const r = await Effect.runPromise(
      Effect.result(Effect.service(Backend).pipe(Effect.provide(OnnxBackend.layer({ provider: "cuda" })))),
    )
    expect(Result.isFailure(r) && r.failure).toMatchObject({ _tag: "BackendUnavailable", backend: "onnx:cuda" })
    expect(Result.isFailure(r) && r.failure.message).toContain("cuda")
  })
  it("auto reports the chosen provider and why others were skipped", async () => {
    const b = await Effect.runPromise(Effect.service(Backend).pipe(Effect.provide(OnnxBackend.layer())))
    const report = (b as unknown as { providerReport: { chosen: string; skipped: { provider: string; reason: string }[] } })
      .providerReport
    expect(report.chosen).toBe("cpu")
    expect(report.skipped.map((s) => s.provider)).toContain("cuda")
    expect(report.skipped[0].reason.length).toBeGreaterThan(10)
  })
  it("a failure inside the runtime names the op", async () => {
    const table = IR.input("table", [3, 2])
    const ids = IR.input("ids", [2], "i32")
    const graph = { outputs: { y: IR.gather(table, ids) } }
    const r = await Effect.runPromise(
      Effect.result(
        Effect.gen(function* () {
          const b = yield* Backend
          const s = yield* b.compile(graph, new Map())
          return yield* s.run({ table: Tensor.f32([3, 2], [1, 2, 3, 4, 5, 6]), ids: Tensor.i32([2], [0, 7]) })
        }).pipe(Effect.provide(OnnxBackend.layer({ provider: "cpu" }))),
      ),
    )
    expect(Result.isFailure(r) && r.failure).toMatchObject({ _tag: "BackendError", backend: "onnx:cpu", op: "Gather" })
  })
  it("feeds of the wrong shape or dtype are refused before the runtime sees them", async () => {
    const x = IR.input("x", [2, 2])
    const r = await Effect.runPromise(
      Effect.result(
        Effect.gen(function* () {
          const b = yield* Backend
          const s = yield* b.compile({ outputs: { y: IR.exp(x) } }, new Map())
          return yield* s.run({ x: Tensor.f32([4]) })
        }).pipe(Effect.provide(OnnxBackend.layer({ provider: "cpu" }))),
      ),
    )
    expect(Result.isFailure(r) && r.failure).toMatchObject({ _tag: "BackendError", op: "input" })
  })
})
