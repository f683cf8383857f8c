/**
 * Laws of the SPoT algebra under fast-check (≥ 200 runs each): the fast similarity forms equal the
 * definitions, similarity laws, and retrieval-strategy laws. `strategyLaws` is exported so that a
 * user-defined strategy can run the same suite (see examples/custom-strategy.ts).
 */
import { type HostTensor, Init, Retrieval, Similarity } from "@spot/core"
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
const pair = fc
  .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 8 }))
  .chain(([La, Lb, d]) => fc.tuple(prompt(La, d), prompt(Lb, d)))

const near = (a: number, b: number, tol = 1e-4) => Math.abs(a - b) <= tol

describe("similarity metrics", () => {
  for (const sim of Similarity.SIMILARITIES) {
    describe(sim.name, () => {
      it("fast form equals the definition (also for different prompt lengths)", () => {
        fc.assert(
          fc.property(pair, ([a, b]) => near(sim.score(sim.summary(a), sim.summary(b)), sim.naive(a, b))),
          RUNS,
        )
      })
      it("is symmetric and bounded in [-1, 1], never NaN", () => {
        fc.assert(
          fc.property(pair, ([a, b]) => {
            const s = sim.score(sim.summary(a), sim.summary(b))
            return Number.isFinite(s) && s >= -1 && s <= 1 && near(s, sim.score(sim.summary(b), sim.summary(a)), 1e-6)
          }),
          RUNS,
        )
      })
      it("is invariant to token order", () => {
        fc.assert(
          fc.property(pair, fc.nat(), ([a, b], seed) => {
            const [L, d] = a.shape
            const order = Array.from({ length: L }, (_, i) => i).sort(
              (x, y) => ((x * 7919 + seed) % 13) - ((y * 7919 + seed) % 13),
            )
            const shuffled = {
              ...a,
              data: Float32Array.from({ length: L * d }, (_, k) => a.data[order[Math.floor(k / d)] * d + (k % d)]),
            }
            return near(sim.score(sim.summary(a), sim.summary(b)), sim.score(sim.summary(shuffled), sim.summary(b)), 1e-5)
          }),
          RUNS,
        )
      })
      it("is invariant to positive scaling of tokens", () => {
        fc.assert(
          fc.property(
            pair,
            fc.array(fc.double({ min: 0.1, max: 10, noNaN: true }), { minLength: 6, maxLength: 6 }),
            ([a, b], scales) => {
              const [, d] = a.shape
              // per-token scales for the per-token metric; one common scale for the average-token metric
              const per = sim.name === "per-token-average-cosine"
              const scaled = { ...a, data: a.data.map((v, k) => v * (per ? scales[Math.floor(k / d) % 6] : scales[0])) }
              return near(sim.score(sim.summary(a), sim.summary(b)), sim.score(sim.summary(scaled), sim.summary(b)), 1e-4)
            },
          ),
          RUNS,
        )
      })
      it("a prompt is maximally similar to itself (unless it averages to zero)", () => {
        fc.assert(
          fc.property(prompt(3, 4), (a) => {
            const s = sim.score(sim.summary(a), sim.summary(a))
            return (
              s <= 1 + 1e-6 &&
              (Math.hypot(...sim.summary(a)) < 1e-6 || sim.name === "per-token-average-cosine" || near(s, 1, 1e-4))
            )
          }),
          RUNS,
        )
      })
    })
  }
})

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
