/**
 * `spot bench grid --cluster postgres://… --cells N`: submits N cells to the cluster of sleeping
 * workers (`spot worker --sleep-ms M`) and times them: per-cell orchestration overhead (M = 0) and
 * throughput with however many workers are running.
 */
import { Grid } from "@spot/cluster"
import { Console, Effect, Layer } from "effect"
import { Command, Flag } from "effect/cli"
import { printJson } from "../output.ts"

export const grid = Command.make(
  "grid",
  {
    cluster: Flag.String("cluster"),
    cells: Flag.Int("cells").pipe(Flag.withDefault(100)),
    concurrency: Flag.Int("concurrency").pipe(Flag.withDefault(64)),
    json: Flag.Boolean("json").pipe(Flag.withDefault(false)),
  },
  (f) =>
    Effect.gen(function* () {
      const study = `bench-${Date.now().toString(36)}`
      const t0 = performance.now()
      yield* Effect.forEach(
        Array.from({ length: f.cells }, (_, i) => i),
        (i) => Grid.executeCell({ study, key: `cell/${i}`, fingerprint: "sleep" }),
        { concurrency: f.concurrency, discard: true },
      )
      const seconds = (performance.now() - t0) / 1000
      const p = yield* Grid.progress(study)
      const r = {
        study,
        cells: f.cells,
        recorded: p.cells,
        attempts: p.attempts,
        workers: Object.keys(p.byWorker).length,
        by_worker: p.byWorker,
        seconds,
        cells_per_second: f.cells / seconds,
        ms_per_cell: (1000 * seconds) / f.cells,
      }
      if (f.json) return yield* printJson(r)
      yield* Console.log(
        `${f.cells} cells on ${r.workers} workers in ${seconds.toFixed(2)} s: ${r.cells_per_second.toFixed(1)} cells/s, ${r.ms_per_cell.toFixed(1)} ms/cell`,
      )
    }).pipe(
      Effect.provide(
        Grid.engineLayer({ url: f.cluster, fingerprint: "sleep" }).pipe(Layer.provideMerge(Grid.sqlLayer(f.cluster))),
      ),
    ),
).pipe(Command.withDescription("Time grid cells on a cluster of `spot worker --sleep-ms` workers."))
