/** `spot study --cluster postgres://…`: the grid's cells computed by `spot worker`s; `--status` shows progress. */
import { ClusterStudy, Grid } from "@spot/cluster"
import { T5, T5Checkpoint, Tokenizers } from "@spot/core"
import { Console, Effect, Layer } from "effect"
import { loadModel } from "../model.ts"
import { printJson } from "../output.ts"
import { suiteData } from "./worker.ts"

export interface ClusterStudyFlags {
  readonly cluster: string
  readonly model: string
  readonly spec: ClusterStudy.StudySpec
  readonly status: boolean
  readonly json: boolean
}

const client = (url: string, fingerprint: string) =>
  Grid.engineLayer({ url, fingerprint }).pipe(Layer.provideMerge(Grid.sqlLayer(url)))

/** Submits (or joins) the study and waits for it; returns the result for the caller to write out. */
export const clusterStudy = (f: ClusterStudyFlags) =>
  Effect.gen(function* () {
    const model = yield* loadModel(f.model)
    const fingerprint = T5Checkpoint.fingerprint(model)
    const text = ClusterStudy.encodeSpec(f.spec)
    const study = yield* ClusterStudy.studyId(text, fingerprint)
    if (f.status) {
      const p = yield* Grid.progress(study).pipe(Effect.provide(Grid.sqlLayer(f.cluster)))
      const cells =
        f.spec.sources.length * f.spec.seeds.length * (1 + f.spec.targets.length * f.spec.seeds.length) +
        f.spec.targets.length * f.spec.seeds.length
      if (f.json) yield* printJson({ study, total: cells, ...p })
      else
        yield* Console.log(
          `${study}: ${p.cells}/${cells} cells recorded, ${p.attempts} attempts; by worker ${JSON.stringify(p.byWorker)}`,
        )
      return undefined
    }
    const data = yield* Effect.fromResult(suiteData(f.spec))
    const runner = yield* T5.makeRunner(model)
    yield* Console.error(`study ${study}: submitting to the cluster; follow with \`spot study --cluster … --status\``)
    return yield* ClusterStudy.runClusterStudy(
      { model, tokenizer: Tokenizers.byteTokenizer, runner },
      f.spec,
      fingerprint,
      data,
      study,
    ).pipe(Effect.provide(client(f.cluster, fingerprint)))
  })
