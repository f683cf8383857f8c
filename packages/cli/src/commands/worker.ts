/**
 * `spot worker --cluster postgres://…`: a runner of the study/transfer grid on any machine, with its
 * own backend. It computes the cells that the cluster's sharding gives it, `--concurrency` at a time
 * (default 1: one backend, one cell), until stopped.
 */
import { ClusterWork, Grid } from "@spot/cluster"
import { T5Checkpoint, T5Runner } from "@spot/core"
import { Console, Effect, Layer, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { backendFlags, backendLayer, describeBackend } from "../backends.ts"
import { loadModelAndTokenizer } from "../common.ts"
import { checkInts } from "../validate.ts"
import { MICRO_MODEL } from "./demo.ts"

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
    tokenizer: Flag.String("tokenizer").pipe(Flag.withDefault("byte")),
    concurrency: Flag.Int("concurrency").pipe(
      Flag.withDefault(1),
      Flag.withDescription("cells this worker computes at once (default 1; more oversubscribe one backend)"),
    ),
    sleepMs: Flag.Int("sleep-ms").pipe(Flag.optional, Flag.withDescription("benchmark: every cell sleeps this long")),
    ...backendFlags,
  },
  (f) =>
    Effect.gen(function* () {
      yield* checkInts([
        ["--port", f.port, 1, 65_535],
        ["--concurrency", f.concurrency, 1, 1024],
      ])
      const name = Option.getOrElse(f.name, () => `${f.host}:${f.port}`)
      let work: Grid.CellWorkShape
      if (Option.isSome(f.sleepMs)) work = sleepWork(f.sleepMs.value, name)
      else {
        const { model, tokenizer } = yield* loadModelAndTokenizer(f.model, f.tokenizer)
        const runner = yield* T5Runner.makeRunner(model)
        work = yield* ClusterWork.gridCellWork({ model, tokenizer, runner }, T5Checkpoint.fingerprint(model), name)
      }
      const info = yield* describeBackend
      yield* Console.error(
        `worker ${name}: model ${work.fingerprint}, backend ${info.backend}, ${f.concurrency} cell(s) at a time, cluster ${f.cluster.replace(/:[^:@/]*@/, ":***@")}`,
      )
      return yield* Layer.launch(
        Grid.workerLayer({
          url: f.cluster,
          fingerprint: work.fingerprint,
          runner: { host: f.host, port: f.port },
          concurrency: f.concurrency,
        }).pipe(Layer.provide(Layer.succeed(Grid.CellWork, work)), Layer.provide(Grid.sqlLayer(f.cluster))),
      )
    }).pipe(Effect.provide(backendLayer(f))),
).pipe(Command.withDescription("Run grid cells (study, transfer) for a cluster on this machine, until stopped."))
