/**
 * A user-defined retrieval strategy: best of the top-k *distinct tasks* (the best-ranked seed of
 * each), so that k runs are never spent on seeds of one task. It is a value of `Retrieval.Strategy`
 * and plugs into `spot transfer`'s machinery (`Transfer.executePlan`) like the built-in ones.
 */
import { LibraryError, Retrieval } from "@spot/core"
import { Result } from "effect"

export const bestOfTopKTasks: Retrieval.Strategy = {
  name: "best-of-top-k-tasks",
  plan: (candidates, q) =>
    Result.flatMap(Retrieval.bestOfTopK.plan(candidates, { ...q, k: Number.MAX_SAFE_INTEGER }), (all) => {
      if (!(q.k >= 1) || !Number.isInteger(q.k)) {
        return Result.fail(
          new LibraryError({ library: "(retrieval)", entry: "", message: `k must be a positive integer, got ${q.k}` }),
        )
      }
      const seen = new Set<string>()
      const picked = all.ranking.filter((r) => !seen.has(r.candidate.task) && seen.add(r.candidate.task)).slice(0, q.k)
      return Result.succeed({
        ...all,
        strategy: "best-of-top-k-tasks",
        kRequested: q.k,
        kEffective: picked.length,
        runs: picked.map((r) => ({
          label: `${r.candidate.task}#${r.candidate.seed}`,
          stages: [{ data: ["target"], init: { kind: "prompt" as const, from: r.candidate } }],
        })),
      })
    }),
}
