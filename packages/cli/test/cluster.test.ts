/**
 * The study on a cluster of `spot worker` processes and PostgreSQL, with faults: one worker is
 * SIGKILLed while it computes a cell and PostgreSQL is restarted once mid-study. The result must equal
 * the single-process run of the same study cell for cell, with every cell recorded exactly once.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Postgres, startPostgres } from "../../cluster/test/postgres.ts"
import { CLI, ROOT, spot, tempDir } from "./helpers.ts"

let pg: Postgres
const workers: ChildProcess[] = []
beforeAll(async () => {
  pg = await startPostgres()
}, 120_000)
afterAll(() => {
  for (const w of workers) w.kill("SIGKILL")
  pg?.stop()
})

const psql = (sql: string) =>
  execFileSync("psql", [pg.url, "-At", "-c", sql], { encoding: "utf8" })
    .trim()
    .split("\n")
    .filter((l) => l !== "")

const startWorker = (name: string, port: number, extra: string[] = []) => {
  const w = spawn("node", [CLI, "worker", "--cluster", pg.url, "--port", String(port), "--name", name, "--threads", "1", ...extra], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  })
  w.stderr?.on("data", () => {})
  w.stdout?.on("data", () => {})
  workers.push(w)
  return w
}

const until = async (what: string, cond: () => boolean, ms = 240_000) => {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (cond()) return
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(`timed out waiting for ${what}`)
}

const STUDY = [
  "--sources",
  "movie-sentiment,animal-topic,color-topic",
  "--targets",
  "food-sentiment",
  "--seeds",
  "0",
  "--source-steps",
  "6",
  "--target-steps",
  "3",
  "--train-examples",
  "32",
  "--threads",
  "1",
  "--json",
]

describe("spot study --cluster", () => {
  it("survives a SIGKILLed worker and a PostgreSQL restart, and equals the single-process study cell for cell", async () => {
    const ports = [35211, 35212, 35213]
    const [victim] = ports.map((p, i) => startWorker(`w${i}`, p))
    const out = tempDir()
    const submit = spot(["study", "--cluster", pg.url, ...STUDY, "--out", out])
    // kill w0 while it computes a cell (an attempt is recorded before the cell's work starts)
    await until("w0 to start a cell", () => {
      try {
        return Number(psql("SELECT count(*) FROM spot_grid_attempt WHERE worker = 'w0'")[0]) > 0
      } catch {
        return false
      }
    })
    victim.kill("SIGKILL")
    // restart PostgreSQL once, mid-study
    await until("a first recorded cell", () => Number(psql("SELECT count(*) FROM spot_grid_cell")[0]) >= 1)
    pg.restart()
    const r = await submit
    expect(r.code, r.stderr).toBe(0)
    const cluster = JSON.parse(readFileSync(join(out, "study.json"), "utf8"))

    // 3 sources + 1 baseline + 3 transfers: each recorded once, none lost
    const cells = psql("SELECT key FROM spot_grid_cell ORDER BY key")
    expect(cells).toHaveLength(7)
    expect(new Set(cells).size).toBe(7)
    // the killed worker's cell was retried by another worker
    const attempts = Number(psql("SELECT count(*) FROM spot_grid_attempt")[0])
    expect(attempts).toBeGreaterThanOrEqual(7)
    const byW0 = psql("SELECT key FROM spot_grid_attempt WHERE worker = 'w0'")
    for (const key of byW0) {
      if (!psql(`SELECT worker FROM spot_grid_cell WHERE key = '${key}'`).includes("w0")) {
        expect(psql(`SELECT worker FROM spot_grid_cell WHERE key = '${key}'`)[0]).toMatch(/^w[12]$/)
      }
    }

    const localOut = tempDir()
    const local = await spot(["study", ...STUDY, "--out", localOut])
    expect(local.code, local.stderr).toBe(0)
    const single = JSON.parse(readFileSync(join(localOut, "study.json"), "utf8"))
    for (const k of ["rer", "similarity", "baseline", "oracle", "summary", "correlation"]) expect(cluster[k]).toEqual(single[k])
  })

  it("a worker holding another model refuses the cells (they wait for a matching worker)", async () => {
    const w = startWorker("other", 35221, ["--model", "random:t5-v1_1-small"])
    await new Promise((r) => setTimeout(r, 1000))
    const status = await spot(["study", "--cluster", pg.url, ...STUDY, "--status"])
    expect(status.code, status.stderr).toBe(0)
    expect(JSON.parse(status.stdout.trim().split("\n").at(-1) as string).cells).toBe(7)
    w.kill("SIGKILL")
  })
})
