/**
 * Retrieval strategies as a typed algebra: (candidates, target embedding, k) → transfer plan.
 * A plan says what to train, from what initialisation, on what data; the runner executes it. A
 * user-defined strategy is any value of `Strategy` and can reuse the law suite in the tests.
 *
 * Candidates are (task, seed) pairs of a prompt library. Ranking is by similarity, ties broken by
 * (task, seed) so that the order of the library never matters. `k` larger than the number of
 * candidates is clamped (the plan records `kEffective`); an empty library is an error.
 */
import { Result } from "effect"
import { LibraryError } from "../errors.ts"
import type { ModelKey } from "../t5/checkpoint.ts"
import { fingerprintMatches } from "../t5/checkpoint.ts"
import type { Similarity } from "./similarity.ts"

export interface Candidate {
  readonly entry: string
  readonly task: string
  readonly seed: number
  readonly model: ModelKey
  readonly promptLength: number
  /** The similarity summary of this candidate's task embedding. */
  readonly summary: Float32Array
}

export interface CandidateRef {
  readonly entry: string
  readonly task: string
  readonly seed: number
}

export interface Ranked {
  readonly candidate: CandidateRef
  readonly similarity: number
}

export type InitSpec =
  | { readonly kind: "default" }
  | { readonly kind: "prompt"; readonly from: CandidateRef }
  | { readonly kind: "average"; readonly from: readonly CandidateRef[]; readonly weights: readonly number[] }
  /** The prompt the previous stage of the same run produced. */
  | { readonly kind: "previous-stage" }

export interface Stage {
  /** Datasets to train on: "target" or source task names (a mixture when several). */
  readonly data: readonly string[]
  readonly init: InitSpec
}

export interface Run {
  readonly label: string
  readonly stages: readonly Stage[]
}

export interface TransferPlan {
  readonly strategy: string
  readonly similarity: string
  readonly kRequested: number
  readonly kEffective: number
  readonly ranking: readonly Ranked[]
  /** Runs to train on the target; the one with the best validation score is kept. */
  readonly runs: readonly Run[]
}

export interface Query {
  readonly target: { readonly summary: Float32Array; readonly model: ModelKey; readonly promptLength: number }
  readonly k: number
  readonly similarity: Similarity
}

export type Strategy = {
  readonly name: string
  readonly plan: (candidates: readonly Candidate[], q: Query) => Result.Result<TransferPlan, LibraryError>
}

const refOf = (c: Candidate): CandidateRef => ({ entry: c.entry, task: c.task, seed: c.seed })
const err = (message: string) => new LibraryError({ library: "(retrieval)", entry: "", message })

/** Candidates compatible with the target (same model, width and prompt length). */
export const compatible = (candidates: readonly Candidate[], q: Query): Candidate[] =>
  candidates.filter(
    (c) =>
      fingerprintMatches(c.model.fingerprint, q.target.model.fingerprint) &&
      c.model.dModel === q.target.model.dModel &&
      c.promptLength === q.target.promptLength,
  )

/** All compatible candidates by decreasing similarity; ties by (task, seed, entry). */
export const rank = (candidates: readonly Candidate[], q: Query): Ranked[] =>
  compatible(candidates, q)
    .map((c) => ({ c, s: q.similarity.score(c.summary, q.target.summary) }))
    .map(({ c, s }) => ({ c, s: Number.isFinite(s) ? s : 0 }))
    .sort((a, b) => b.s - a.s || a.c.task.localeCompare(b.c.task) || a.c.seed - b.c.seed || a.c.entry.localeCompare(b.c.entry))
    .map(({ c, s }) => ({ candidate: refOf(c), similarity: s }))

const topK = (candidates: readonly Candidate[], q: Query): Result.Result<{ ranking: Ranked[]; top: Ranked[] }, LibraryError> => {
  if (!(q.k >= 1) || !Number.isInteger(q.k)) return Result.fail(err(`k must be a positive integer, got ${q.k}`))
  const ranking = rank(candidates, q)
  if (ranking.length === 0) {
    return Result.fail(
      err(candidates.length === 0 ? "the library is empty" : "no library entry is compatible with this model and prompt shape"),
    )
  }
  return Result.succeed({ ranking, top: ranking.slice(0, q.k) })
}

const planOf = (strategy: string, q: Query, ranking: Ranked[], kEffective: number, runs: Run[]): TransferPlan => ({
  strategy,
  similarity: q.similarity.name,
  kRequested: q.k,
  kEffective,
  ranking,
  runs,
})

/** Train the target from each of the top-k source prompts; keep the best. */
export const bestOfTopK: Strategy = {
  name: "best-of-top-k",
  plan: (cands, q) =>
    Result.map(topK(cands, q), ({ ranking, top }) =>
      planOf(
        "best-of-top-k",
        q,
        ranking,
        top.length,
        top.map((r) => ({
          label: `${r.candidate.task}#${r.candidate.seed}`,
          stages: [{ data: ["target"], init: { kind: "prompt", from: r.candidate } }],
        })),
      ),
    ),
}

/**
 * Initialise from the similarity-weighted average of the top-k source prompts. Weights are the
 * similarities clipped at 0 and normalised to sum to 1 (uniform when none is positive).
 */
export const weightedAverageTopK: Strategy = {
  name: "top-k-weighted-average",
  plan: (cands, q) =>
    Result.map(topK(cands, q), ({ ranking, top }) => {
      const clipped = top.map((r) => Math.max(0, r.similarity))
      const z = clipped.reduce((a, b) => a + b, 0)
      const weights = z > 0 ? clipped.map((w) => w / z) : top.map(() => 1 / top.length)
      return planOf("top-k-weighted-average", q, ranking, top.length, [
        {
          label: "weighted-average",
          stages: [{ data: ["target"], init: { kind: "average", from: top.map((r) => r.candidate), weights } }],
        },
      ])
    }),
}

/** Train one prompt on the mixture of the top-k source tasks and the target, then on the target. */
export const multiTaskTopK: Strategy = {
  name: "top-k-multi-task",
  plan: (cands, q) =>
    Result.map(topK(cands, q), ({ ranking, top }) => {
      const tasks = [...new Set(top.map((r) => r.candidate.task))].sort()
      return planOf("top-k-multi-task", q, ranking, top.length, [
        {
          label: `mixture(${tasks.join("+")})`,
          stages: [
            { data: [...tasks, "target"], init: { kind: "default" } },
            { data: ["target"], init: { kind: "previous-stage" } },
          ],
        },
      ])
    }),
}

/** Brute force: every compatible candidate (the oracle's search space). */
export const oracle: Strategy = {
  name: "oracle",
  plan: (cands, q) =>
    Result.flatMap(topK(cands, { ...q, k: 1 }), ({ ranking }) => bestOfTopK.plan(cands, { ...q, k: ranking.length })).pipe(
      Result.map((p) => ({ ...p, strategy: "oracle" })),
    ),
}

export const STRATEGIES: readonly Strategy[] = [bestOfTopK, weightedAverageTopK, multiTaskTopK, oracle]
