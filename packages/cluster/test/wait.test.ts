/**
 * A submitter never waits in silence: while its cells are outstanding it reports how many are recorded
 * and how many workers of its model are alive, and says what to start when there is none.
 */
import { execFileSync } from "node:child_process"
import { Grid } from "@spot/cluster"
import { Duration, Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Postgres, startPostgres } from "./postgres.ts"

let pg: Postgres
beforeAll(async () => {
  pg = await startPostgres()
}, 120_000)
afterAll(() => pg?.stop())

const psql = (command: string) => execFileSync("psql", [pg.url, "-c", command], { stdio: "pipe" })

/** Runs `work` while watching study `study` every 100 ms, and returns the result and the reports. */
const watched = <A>(work: Effect.Effect<A>, study: string, fingerprint: string, total: number) => {
  const seen: Grid.WaitStatus[] = []
  const report = (s: Grid.WaitStatus) => Effect.sync(() => void seen.push(s))
  const run = Effect.gen(function* () {
    yield* Grid.ensureTables
    return yield* Effect.raceFirst(work, Grid.watch(study, fingerprint, total, report, Duration.millis(100)))
  })
  return Effect.runPromise(run.pipe(Effect.provide(Grid.sqlLayer(pg.url)))).then((a) => ({ a, seen }))
}

describe("a waiting submitter", () => {
  it("says that no worker of its model is running, naming the model and the command", async () => {
    const { a, seen } = await watched(Effect.as(Effect.sleep(Duration.millis(700)), 42), "study-none", "fp-none", 5)
    expect(a).toBe(42)
    expect(seen.length).toBeGreaterThanOrEqual(2)
    expect(seen.every((s) => s.workers === 0 && s.total === 5 && s.cells === 0)).toBe(true)
    const line = Grid.waitLine(seen[0], "fp-none")
    expect(line).toContain("no worker of model fp-none")
    expect(line).toContain("spot worker --cluster")
  })

  it("counts recorded cells and live workers of its model only (stale heartbeats and other models excluded)", async () => {
    for (const fp of ["fp-a", "fp-b"]) {
      const t = `${Grid.clusterPrefix(fp)}_runners`
      psql(`CREATE TABLE IF NOT EXISTS ${t} (address text PRIMARY KEY, runner text, last_heartbeat timestamp, healthy boolean)`)
    }
    psql(`INSERT INTO ${Grid.clusterPrefix("fp-a")}_runners VALUES ('a:1', 'r', now(), true), ('a:2', 'r', now(), true),
      ('a:3', 'r', now() - interval '10 minutes', true)`)
    psql(`INSERT INTO ${Grid.clusterPrefix("fp-b")}_runners VALUES ('b:1', 'r', now(), true)`)
    psql(`INSERT INTO spot_grid_cell (study, key, score, worker) VALUES ('study-a', 'k1', 1, 'w'), ('study-a', 'k2', 2, 'w'),
      ('study-other', 'k1', 3, 'w')`)
    const { seen } = await watched(Effect.sleep(Duration.millis(500)), "study-a", "fp-a", 7)
    expect(seen.length).toBeGreaterThanOrEqual(1)
    expect(seen.at(-1)).toEqual({ cells: 2, total: 7, workers: 2 })
    expect(Grid.waitLine(seen.at(-1) as Grid.WaitStatus, "fp-a")).toBe(
      "waiting: 2/7 cells recorded, 2 workers of the model alive",
    )
  })
})
