import { Optim, Tensor, Trainer } from "@spot/core"
import { describe, expect, it } from "vitest"

describe("trainer", () => {
  it("stops on a non-finite loss with TrainingDiverged and keeps the last good checkpoint", async () => {
    const { NodeServices } = await import("@effect/platform-node")
    const { Effect, Result } = await import("effect")
    const saved: Array<{ which: string; step: number }> = []
    const problem: Trainer.Problem<never, never> = {
      init: new Map([["p", Tensor.f32([2], [1, 1])]]),
      lossAndGrads: (params, step) =>
        Effect.succeed({
          loss: step === 6 ? Number.NaN : (params.get("p")?.data[0] ?? 0) ** 2,
          grads: new Map([["p", Tensor.f32([2], [0.1, 0.1])]]),
        }),
      evaluate: () => Effect.succeed({ score: 0.5, metrics: {} }),
      save: (which, _params, meta) =>
        Effect.sync(() => {
          saved.push({ which, step: meta.step })
          return which
        }),
    }
    const r = await Effect.runPromise(
      Effect.result(
        Trainer.train(problem, {
          steps: 10,
          evalEvery: 2,
          seed: 0,
          optimizer: Optim.adam(),
          schedule: { kind: "constant", lr: 0.1 },
          runKey: "x",
        }).pipe(Effect.provide(NodeServices.layer)),
      ),
    )
    expect(Result.isFailure(r) && r.failure).toMatchObject({ _tag: "TrainingDiverged", step: 7 })
    expect(saved.filter((s) => s.which === "last").map((s) => s.step)).toEqual([2, 4, 6])
    expect(saved.filter((s) => s.which === "best").map((s) => s.step)).toEqual([2]) // ties keep the earliest
  })
})
