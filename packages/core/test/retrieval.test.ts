/**
 * Laws of the SPoT algebra under fast-check (≥ 200 runs each): the fast similarity forms equal the
 * definitions, similarity laws, and retrieval-strategy laws. `strategyLaws` is exported so that a
 * user-defined strategy can run the same suite (see examples/custom-strategy.ts).
 */
import { type HostTensor, Init, Retrieval } from "@spot/core"
import { library, query, strategyLaws } from "@spot/core/testing"
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"

const RUNS = { numRuns: 200 }
// hundredths in [-4, 4]: no denormals, whose underflow under scaling would turn a token into zero
const value = fc.integer({ min: -400, max: 400 }).map((i) => i / 100)
const prompt = (L: number, d: number) =>
  fc
    .array(value, { minLength: L * d, maxLength: L * d })
    .map((xs): HostTensor<"f32"> => ({ dtype: "f32", shape: [L, d], data: Float32Array.from(xs) }))

describe("retrieval strategies", () => {
  for (const s of Retrieval.STRATEGIES) strategyLaws(s)

  it("best-of-top-k with k = 1 is the argmax of similarity", () => {
    fc.assert(
      fc.property(library, query(1), (lib, q) => {
        const ok = lib.filter((c) => c.model.fingerprint === "m")
        fc.pre(ok.length > 0)
        const p = Result.getOrThrow(Retrieval.bestOfTopK.plan(lib, q))
        const best = Math.max(...ok.map((c) => q.similarity.score(c.summary, q.target.summary)))
        expect(p.runs).toHaveLength(1)
        const init = p.runs[0].stages[0].init
        expect(init.kind).toBe("prompt")
        const chosen = ok.find(
          (c) => init.kind === "prompt" && c.task === init.from.task && c.seed === init.from.seed,
        ) as Retrieval.Candidate
        expect(q.similarity.score(chosen.summary, q.target.summary)).toBeCloseTo(best, 6)
      }),
      RUNS,
    )
  })

  it("weighted-average weights are non-negative, sum to one and follow the similarity order", () => {
    fc.assert(
      fc.property(library, fc.integer({ min: 1, max: 6 }).chain(query), (lib, q) => {
        const r = Retrieval.weightedAverageTopK.plan(lib, q)
        fc.pre(Result.isSuccess(r))
        const init = Result.getOrThrow(r).runs[0].stages[0].init
        if (init.kind !== "average") throw new Error("expected average")
        expect(init.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9)
        init.weights.forEach((w, i) => {
          expect(w).toBeGreaterThanOrEqual(0)
          if (i > 0) expect(w).toBeLessThanOrEqual(init.weights[i - 1] + 1e-12)
        })
      }),
      RUNS,
    )
  })

  it("the weighted average of identical prompts is that prompt", () => {
    fc.assert(
      fc.property(
        prompt(3, 4),
        fc.array(fc.double({ min: 0.01, max: 5, noNaN: true }), { minLength: 1, maxLength: 5 }),
        (p, ws) => {
          const avg = Result.getOrThrow(
            Init.weightedAverage(
              ws.map(() => p),
              ws,
            ),
          )
          avg.data.forEach((v, i) => {
            expect(v).toBeCloseTo(p.data[i], 4)
          })
        },
      ),
      RUNS,
    )
  })

  it("multi-task mixes the distinct top-k source tasks with the target, then tunes on the target", () => {
    fc.assert(
      fc.property(library, fc.integer({ min: 1, max: 6 }).chain(query), (lib, q) => {
        const r = Retrieval.multiTaskTopK.plan(lib, q)
        fc.pre(Result.isSuccess(r))
        const p = Result.getOrThrow(r)
        const [mix, tune] = p.runs[0].stages
        expect(mix.data[mix.data.length - 1]).toBe("target")
        expect(new Set(mix.data).size).toBe(mix.data.length)
        expect(tune).toEqual({ data: ["target"], init: { kind: "previous-stage" } })
      }),
      RUNS,
    )
  })

  it("the oracle's search space is every compatible candidate", () => {
    fc.assert(
      fc.property(library, query(1), (lib, q) => {
        const r = Retrieval.oracle.plan(lib, q)
        const ok = lib.filter((c) => c.model.fingerprint === "m")
        if (ok.length === 0) return Result.isFailure(r)
        return Result.getOrThrow(r).runs.length === ok.length
      }),
      RUNS,
    )
  })

  it("rejects k < 1", () => {
    fc.assert(
      fc.property(library, query(0), (lib, q) => Result.isFailure(Retrieval.bestOfTopK.plan(lib, q))),
      RUNS,
    )
  })
})
