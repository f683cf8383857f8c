/**
 * Laws of the SPoT algebra under fast-check (≥ 200 runs each): the fast similarity forms equal the
 * definitions, similarity laws, and retrieval-strategy laws. `strategyLaws` is exported so that a
 * user-defined strategy can run the same suite (see examples/custom-strategy.ts).
 */
import { type HostTensor, Similarity } from "@spot/core"
import fc from "fast-check"
import { describe, it } from "vitest"

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
