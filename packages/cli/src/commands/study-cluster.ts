/** `spot study --cluster postgres://…`: the grid's cells computed by `spot worker`s; `--status` shows progress. */
import { ClusterStudy, Grid } from "@spot/cluster"
import { type Study, T5Checkpoint, type Tuning } from "@spot/core"
import { Console, Effect } from "effect"
import { printJson } from "../output.ts"

export interface ClusterStudyFlags {
  readonly cluster: string
  readonly env: Tuning.Env
  readonly options: Study.StudyOptions
  readonly data: ReadonlyMap<string, Study.TaskData>
  readonly status: boolean
  readonly json: boolean
}

/** Submits (or joins) the study and waits for it; with `status`, prints its progress instead. */
export const clusterStudy = (f: ClusterStudyFlags) =>
  Effect.gen(function* () {
    const fingerprint = T5Checkpoint.fingerprint(f.env.model)
    if (f.status) {
      const study = yield* ClusterStudy.studyId(ClusterStudy.encodeSpec(ClusterStudy.makeSpec(f.options, f.data)), fingerprint)
      const p = yield* Grid.progress(study).pipe(Effect.provide(Grid.sqlLayer(f.cluster)))
      const total = ClusterStudy.cellCount(f.options)
      if (f.json) yield* printJson({ study, total, ...p })
      else
        yield* Console.log(
          `${study}: ${p.cells}/${total} cells recorded, ${p.attempts} attempts; by worker ${JSON.stringify(p.byWorker)}`,
        )
      return undefined
    }
    yield* Console.error("submitting the study to the cluster; follow it with `spot study --cluster … --status`")
    const report = (s: Grid.WaitStatus) => Console.error(Grid.waitLine(s, fingerprint))
    return yield* ClusterStudy.runClusterStudy(f.env, f.options, f.data, fingerprint, report).pipe(
      Effect.provide(Grid.clientLayer(f.cluster, fingerprint)),
    )
  })
