/**
 * The laws every retrieval strategy must satisfy, as a reusable suite: call `strategyLaws(s)` inside
 * a test file for a user-defined strategy (examples/custom-strategy.test.ts does).
 */
import { type Retrieval, Similarity } from "@spot/core"
import { Result } from "effect"
import fc from "fast-check"
import { expect, it } from "vitest"

export const RUNS_LAWS = { numRuns: 200 }
const RUNS = RUNS_LAWS
const value = fc.integer({ min: -400, max: 400 }).map((i) => i / 100)
const SIM = Similarity.perTokenAverageCosine

export const model = { fingerprint: "m", dModel: 4 }
const candidate = fc
  .tuple(
    fc.constantFrom("a", "b", "c", "d", "e"),
    fc.integer({ min: 0, max: 2 }),
    fc.array(value, { minLength: 4, maxLength: 4 }),
    fc.boolean(),
  )
  .map(
    ([task, seed, v, other]): Retrieval.Candidate => ({
      entry: task,
      task,
      seed,
      model: other && seed === 2 ? { fingerprint: "other", dModel: 4 } : model,
      promptLength: 3,
      summary: Float32Array.from(v),
    }),
  )
export const library = fc.uniqueArray(candidate, { selector: (c) => `${c.task}#${c.seed}`, minLength: 1, maxLength: 12 })
export const query = (k: number, sim: import("@spot/core").Similarity.Similarity = SIM): fc.Arbitrary<Retrieval.Query> =>
  fc
    .array(value, { minLength: 4, maxLength: 4 })
    .map((v) => ({ target: { summary: Float32Array.from(v), model, promptLength: 3 }, k, similarity: sim }))

/** Laws every strategy must satisfy; reusable for user-defined strategies. */
export const strategyLaws = (s: Retrieval.Strategy) => {
  it(`${s.name}: the order of the library does not matter`, () => {
    fc.assert(
      fc.property(library, fc.integer({ min: 1, max: 5 }).chain(query), fc.nat(), (lib, q, seed) => {
        const shuffled = [...lib].sort(
          (x, y) => ((x.seed * 31 + x.task.charCodeAt(0) + seed) % 7) - ((y.seed * 31 + y.task.charCodeAt(0) + seed) % 7),
        )
        expect(s.plan(shuffled, q)).toEqual(s.plan(lib, q))
      }),
      RUNS,
    )
  })
  it(`${s.name}: plans only reference compatible entries, and k is clamped, never NaN`, () => {
    fc.assert(
      fc.property(library, fc.integer({ min: 1, max: 30 }).chain(query), (lib, q) => {
        const r = s.plan(lib, q)
        const ok = lib.filter((c) => c.model.fingerprint === "m")
        if (ok.length === 0) {
          expect(Result.isFailure(r)).toBe(true)
          return
        }
        const p = Result.getOrThrow(r)
        const allowed = new Set(ok.map((c) => `${c.task}#${c.seed}`))
        for (const run of p.runs) {
          for (const st of run.stages) {
            const refs = st.init.kind === "prompt" ? [st.init.from] : st.init.kind === "average" ? st.init.from : []
            for (const ref of refs) expect(allowed.has(`${ref.task}#${ref.seed}`)).toBe(true)
            for (const dsName of st.data) expect(dsName === "target" || ok.some((c) => c.task === dsName)).toBe(true)
          }
        }
        expect(p.kEffective).toBeLessThanOrEqual(Math.min(p.kRequested, ok.length))
        expect(p.ranking.every((x) => Number.isFinite(x.similarity))).toBe(true)
      }),
      RUNS,
    )
  })
  it(`${s.name}: an empty library is an error`, () => {
    fc.assert(
      fc.property(query(3), (q) => Result.isFailure(s.plan([], q))),
      RUNS,
    )
  })
}
