/**
 * The study on a cluster of `spot worker` processes and PostgreSQL, with faults: one worker is
 * SIGKILLed while it computes a cell and PostgreSQL is restarted once mid-study. The result must equal
 * the single-process run of the same study cell for cell, with every cell recorded exactly once.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { createWriteStream, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Postgres, startPostgres } from "../../cluster/test/postgres.ts"
import { CLI, ROOT, spot, tempDir, tinyCheckpoint } from "./helpers.ts"

let pg: Postgres
/** Worker logs, kept for a failed run (the path is printed). */
const logDir = mkdtempSync(join(tmpdir(), "spot-cluster-logs-"))
const workers: ChildProcess[] = []
beforeAll(async () => {
  pg = await startPostgres()
}, 120_000)
afterAll(() => {
  for (const w of workers) w.kill("SIGKILL")
  pg?.stop()
})

const psql = (sql: string) =>
  execFileSync("psql", [pg.url, "-At", "-c", sql], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
    .trim()
    .split("\n")
    .filter((l) => l !== "")

const startWorker = (name: string, port: number, extra: string[] = []) => {
  const w = spawn(
    "node",
    [CLI, "worker", "--cluster", pg.url, "--port", String(port), "--name", name, "--threads", "1", ...extra],
    {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    },
  )
  const log = createWriteStream(join(logDir, `${name}.log`))
  w.stderr?.pipe(log)
  w.stdout?.pipe(log)
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
  "movie-sentiment,animal-topic",
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

    // 2 sources + 1 baseline (a prompt and an embedding cell each) + 2 transfers: each recorded once, none lost
    const cells = psql("SELECT key FROM spot_grid_cell ORDER BY key")
    expect(cells).toHaveLength(8)
    expect(new Set(cells).size).toBe(8)
    // the killed worker's cell was retried by another worker
    const attempts = Number(psql("SELECT count(*) FROM spot_grid_attempt")[0])
    expect(attempts).toBeGreaterThanOrEqual(8)
    const byW0 = psql("SELECT key FROM spot_grid_attempt WHERE worker = 'w0'")
    for (const key of byW0) {
      if (!psql(`SELECT worker FROM spot_grid_cell WHERE key = '${key}'`).includes("w0")) {
        expect(psql(`SELECT worker FROM spot_grid_cell WHERE key = '${key}'`)[0]).toMatch(/^w[12]$/)
      }
    }

    // the study's spec (options and task data) is stored once; the surviving workers ran one cell at a time
    expect(psql("SELECT count(*) FROM spot_grid_spec")).toEqual(["1"])
    for (const w of ["w1", "w2"]) {
      const spans = psql(
        `SELECT extract(epoch FROM started) || ' ' || extract(epoch FROM finished) FROM spot_grid_attempt
         WHERE worker = '${w}' ORDER BY started`,
      ).map((l) => l.split(" ").map(Number))
      for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1])
    }

    const localOut = tempDir()
    const local = await spot(["study", ...STUDY, "--out", localOut])
    expect(local.code, local.stderr).toBe(0)
    const single = JSON.parse(readFileSync(join(localOut, "study.json"), "utf8"))
    for (const k of ["rer", "similarity", "baseline", "oracle", "summary", "correlation"]) expect(cluster[k]).toEqual(single[k])
  }, 600_000)

  it("cells of a model wait for a worker of that model: workers of another model never compute them", async () => {
    const tiny = await tinyCheckpoint(tempDir())
    const args = ["study", "--cluster", pg.url, ...STUDY, "--model", tiny]
    const submit = spot([...args, "--out", tempDir()])
    await new Promise((r) => setTimeout(r, 8000))
    // the micro-model workers of the first test are still running; none of them took a cell
    const status = await spot([...args, "--status"])
    expect(status.code, status.stderr).toBe(0)
    const st = JSON.parse(status.stdout.trim().split("\n").at(-1) as string)
    expect(st.cells).toBe(0)
    expect(st.attempts).toBe(0)
    startWorker("tiny", 35231, ["--model", tiny])
    const r = await submit
    expect(r.code, r.stderr).toBe(0)
    expect(psql(`SELECT DISTINCT worker FROM spot_grid_cell WHERE study = '${st.study}'`)).toEqual(["tiny"])
  }, 300_000)
})
