/**
 * `spot transfer --cluster`: the runs of a best-of-top-3 plan trained in parallel by two `spot worker`
 * processes equal the single-machine `spot transfer` (scores and prompt bytes); each run is recorded
 * once; a worker never computes two cells at once; cells carry no task data (the spec is stored once).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { createWriteStream, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { OnnxBackend } from "@spot/backend-cuda"
import { Grid } from "@spot/cluster"
import { DirectoryLibrary, Library, Recipe, Safetensors, T5Checkpoint, T5Runner, Tokenizers, Transfer, Tuning } from "@spot/core"
import { Synthetic } from "@spot/experiments"
import { Effect, Layer, Result } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Postgres, startPostgres } from "../../cluster/test/postgres.ts"
import { CLI, ROOT, spot, tempDir, writeTask } from "./helpers.ts"

const MODEL = join(ROOT, "packages/experiments/models/micro-t5")
const SOURCES = ["movie-sentiment", "animal-topic", "color-topic"]
const opts = { steps: 12, batchSize: 16, lr: 0.1, evalEvery: 6, maxSource: 64, maxTarget: 8, promptLength: 20 }
let pg: Postgres
let dir: string
let lib: string
let fingerprint: string
const logDir = mkdtempSync(join(tmpdir(), "spot-cluster-transfer-logs-"))
const workers: ChildProcess[] = []

/** A library of the three source tasks at seed 0, made with the core API on the micro T5. */
const buildLibrary = () =>
  Effect.gen(function* () {
    const model = yield* T5Checkpoint.loadCheckpoint(MODEL)
    const runner = yield* T5Runner.makeRunner(model)
    const env = { model, tokenizer: Tokenizers.byteTokenizer, runner }
    const library = yield* Library
    for (const name of SOURCES) {
      const t = Synthetic.taskNamed(name)
      if (!t) throw new Error(name)
      const train = Synthetic.generate(t, "train", 96)
      const valid = Synthetic.generate(t, "valid", 32)
      const r = yield* Tuning.tunePrompt(env, [train], valid, Tuning.sharedInit(env, 20, 0), 0, opts)
      const embedding = yield* Transfer.taskEmbedding(env, [train], valid, 0, { ...opts, steps: 8 })
      yield* library.put({
        name,
        task: name,
        description: "",
        model: T5Checkpoint.modelKey(model),
        promptLength: 20,
        created: new Date().toISOString(),
        seeds: [
          {
            seed: 0,
            source: r.best,
            embedding,
            metrics: { accuracy: r.bestScore },
            provenance: { [Recipe.PROVENANCE_KEY]: Recipe.encodeRecipe(Recipe.uniformInit({ steps: 8, lr: 0.1, batch: 16 })) },
          },
        ],
      })
    }
    return T5Checkpoint.fingerprint(model)
  }).pipe(
    Effect.scoped,
    Effect.provide(
      Layer.mergeAll(
        NodeServices.layer,
        OnnxBackend.layer({ provider: "cpu" }),
        Layer.provide(DirectoryLibrary.layer(lib), NodeServices.layer),
      ),
    ),
  )

beforeAll(async () => {
  pg = await startPostgres()
  dir = tempDir()
  lib = join(dir, "lib")
  fingerprint = await Effect.runPromise(buildLibrary())
  writeTask(dir, "food-sentiment", 96, 32)
}, 600_000)
afterAll(() => {
  for (const w of workers) w.kill("SIGKILL")
  pg?.stop()
})

const psql = (sql: string) =>
  execFileSync("psql", [pg.url, "-At", "-c", sql], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
    .trim()
    .split("\n")
    .filter((l) => l !== "")

const startWorker = (name: string, port: number) => {
  const w = spawn("node", [CLI, "worker", "--cluster", pg.url, "--port", String(port), "--name", name, "--threads", "1"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  })
  const log = createWriteStream(join(logDir, `${name}.log`))
  w.stderr?.pipe(log)
  w.stdout?.pipe(log)
  workers.push(w)
}

const transfer = (out: string, extra: string[] = []) =>
  spot([
    "transfer",
    ...["--model", MODEL, "--library", lib, "--strategy", "best-of-top-k", "--k", "3"],
    ...["--train", join(dir, "food-sentiment.train.jsonl"), "--valid", join(dir, "food-sentiment.valid.jsonl")],
    ...["--embedding-steps", "8", "--steps", "6", "--eval-every", "3", "--batch", "16", "--lr", "0.1"],
    ...["--max-source", "64", "--max-target", "8", "--threads", "1", "--out", out, "--json", ...extra],
  ])

const resultOf = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1) as string)
const promptOf = (file: string) => {
  const st = Result.getOrThrow(Safetensors.decodeSafetensors(new Uint8Array(readFileSync(file))))
  const p = st.tensors.get("prompt")
  if (!p) throw new Error(`${file} holds no prompt`)
  return { bytes: Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength), metadata: st.metadata }
}

describe("spot transfer --cluster", () => {
  it("trains the plan's runs on two workers, one cell at a time each, and equals the single-machine transfer", async () => {
    startWorker("t0", 35311)
    startWorker("t1", 35312)
    const clusterOut = join(dir, "cluster.safetensors")
    const c = await transfer(clusterOut, ["--cluster", pg.url])
    expect(c.code, c.stderr).toBe(0)
    const cluster = resultOf(c.stdout)
    const localOut = join(dir, "local.safetensors")
    const l = await transfer(localOut)
    expect(l.code, l.stderr).toBe(0)
    const local = resultOf(l.stdout)

    // the same runs, scores and winner as on one machine, and the same prompt, byte for byte
    expect(local.runs).toHaveLength(3)
    expect(cluster.retrieved).toEqual(local.retrieved)
    expect(cluster.runs).toEqual(local.runs)
    expect(cluster.best).toEqual(local.best)
    const [cp, lp] = [promptOf(clusterOut), promptOf(localOut)]
    expect(cp.bytes.equals(lp.bytes)).toBe(true)
    expect(cp.metadata).toEqual(lp.metadata)

    // each run recorded once
    const id: string = cluster.cluster.transfer
    expect(psql(`SELECT key FROM spot_grid_cell WHERE study = '${id}' ORDER BY key`)).toEqual(["run/0", "run/1", "run/2"])
    // three cells on two workers: one of them computed two, never at the same time
    const attempts = psql(
      `SELECT worker || ' ' || extract(epoch FROM started) || ' ' || coalesce(extract(epoch FROM finished)::text, '')
       FROM spot_grid_attempt WHERE study = '${id}' ORDER BY worker, started`,
    ).map((l) => l.split(" "))
    expect(attempts.length).toBeGreaterThanOrEqual(3)
    const byWorker = new Map<string, string[][]>()
    for (const a of attempts) byWorker.set(a[0], [...(byWorker.get(a[0]) ?? []), a])
    expect(Math.max(...[...byWorker.values()].map((a) => a.length))).toBeGreaterThanOrEqual(2)
    for (const list of byWorker.values()) {
      for (const [, , finished] of list) expect(finished).not.toBe("")
      for (let i = 1; i < list.length; i++) expect(Number(list[i][1])).toBeGreaterThanOrEqual(Number(list[i - 1][2]))
    }

    // the transfer's data is stored once, in its spec; the cells' messages carry none of it
    const valid = readFileSync(join(dir, "food-sentiment.valid.jsonl"), "utf8").split("\n")[0]
    const words = (JSON.parse(valid).input as string).split(/[^A-Za-z ]/).sort((a, b) => b.length - a.length)[0]
    expect(words.length).toBeGreaterThan(8)
    expect(psql(`SELECT count(*) FROM spot_grid_spec WHERE study = '${id}' AND strpos(spec, '${words}') > 0`)).toEqual(["1"])
    const messages = `${Grid.clusterPrefix(fingerprint)}_messages`
    expect(Number(psql(`SELECT count(*) FROM ${messages}`)[0])).toBeGreaterThanOrEqual(3)
    expect(psql(`SELECT count(*) FROM ${messages} WHERE strpos(payload, '${words}') > 0`)).toEqual(["0"])

    // submitting the same transfer again joins the recorded cells: nothing is computed twice
    const again = await transfer(join(dir, "again.safetensors"), ["--cluster", pg.url])
    expect(again.code, again.stderr).toBe(0)
    expect(resultOf(again.stdout).cluster.transfer).toBe(id)
    expect(resultOf(again.stdout).runs).toEqual(local.runs)
    expect(psql(`SELECT count(*) FROM spot_grid_attempt WHERE study = '${id}'`)).toEqual([String(attempts.length)])
  }, 900_000)
})
