/**
 * `spot worker --cluster postgres://…`: a runner of the study/transfer grid on any machine, with its
 * own backend. It computes the cells that the cluster's sharding gives it, until stopped.
 */
import { ClusterStudy, Grid } from "@spot/cluster"
import { InputError, T5, T5Checkpoint, Tokenizers } from "@spot/core"
import { Synthetic } from "@spot/experiments"
import { Console, Effect, Layer, Option, Result } from "effect"
import { Command, Flag } from "effect/cli"
import { backendFlags, backendLayer, describeBackend } from "../backends.ts"
import { loadModel } from "../model.ts"
import { MICRO_MODEL } from "./demo.ts"

/** Task data of a study spec (the generated suite; unknown names are a typed error). */
export const suiteData = (spec: ClusterStudy.StudySpec) => {
  const { data, unknown } = Synthetic.studyData([...spec.sources, ...spec.targets], spec.train, spec.valid)
  return unknown.length > 0
    ? Result.fail(new InputError({ field: "sources/targets", message: `unknown task(s): ${unknown.join(", ")}` }))
    : Result.succeed(data)
}

/** Cells that only sleep (benchmarks of the orchestration itself). */
const sleepWork = (ms: number, worker: string): Grid.CellWorkShape => ({
  fingerprint: "sleep",
  worker,
  run: () => Effect.as(Effect.sleep(ms), { score: ms }),
})

export const worker = Command.make(
  "worker",
  {
    cluster: Flag.String("cluster").pipe(Flag.withDescription("postgres://… of the cluster's database")),
    host: Flag.String("host").pipe(
      Flag.withDefault("127.0.0.1"),
      Flag.withDescription("address other runners reach this one at"),
    ),
    port: Flag.Int("port").pipe(Flag.withDefault(34431)),
    name: Flag.String("name").pipe(Flag.optional),
    model: Flag.String("model").pipe(Flag.withDefault(MICRO_MODEL)),
    sleepMs: Flag.Int("sleep-ms").pipe(Flag.optional, Flag.withDescription("benchmark: every cell sleeps this long")),
    ...backendFlags,
  },
  (f) =>
    Effect.gen(function* () {
      const name = Option.getOrElse(f.name, () => `${f.host}:${f.port}`)
      let work: Grid.CellWorkShape
      if (Option.isSome(f.sleepMs)) work = sleepWork(f.sleepMs.value, name)
      else {
        const model = yield* loadModel(f.model)
        const runner = yield* T5.makeRunner(model)
        const fingerprint = T5Checkpoint.fingerprint(model)
        work = yield* ClusterStudy.studyCellWork(
          { model, tokenizer: Tokenizers.byteTokenizer, runner },
          fingerprint,
          name,
          suiteData,
        )
      }
      const info = yield* describeBackend
      yield* Console.error(
        `worker ${name}: model ${work.fingerprint}, backend ${info.backend}, cluster ${f.cluster.replace(/:[^:@/]*@/, ":***@")}`,
      )
      return yield* Layer.launch(
        Grid.workerLayer({ url: f.cluster, fingerprint: work.fingerprint, runner: { host: f.host, port: f.port } }).pipe(
          Layer.provide(Layer.succeed(Grid.CellWork, work)),
          Layer.provide(Grid.sqlLayer(f.cluster)),
        ),
      )
    }).pipe(Effect.provide(backendLayer(f))),
).pipe(Command.withDescription("Run grid cells (study, transfer) for a cluster on this machine, until stopped."))
