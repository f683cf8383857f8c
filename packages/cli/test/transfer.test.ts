/**
 * `spot transfer` end to end: a library of two source tasks built with the core API, then the CLI
 * embeds a related target, retrieves, plans, trains and evaluates, for three strategies.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { OnnxBackend } from "@spot/backend-cuda"
import { DirectoryLibrary, Library, Recipe, Safetensors, T5Checkpoint, T5Runner, Tokenizers, Transfer, Tuning } from "@spot/core"
import { Synthetic } from "@spot/experiments"
import { Effect, Layer, Result } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { ROOT, spot, tempDir, writeTask } from "./helpers.ts"

const MODEL = join(ROOT, "packages/experiments/models/micro-t5")
let dir: string
let lib: string
const opts = { steps: 20, batchSize: 16, lr: 0.1, evalEvery: 10, maxSource: 64, maxTarget: 8, promptLength: 20 }

beforeAll(async () => {
  dir = tempDir()
  lib = join(dir, "lib")
  await Effect.runPromise(
    Effect.gen(function* () {
      const model = yield* T5Checkpoint.loadCheckpoint(MODEL)
      const runner = yield* T5Runner.makeRunner(model)
      const env = { model, tokenizer: Tokenizers.byteTokenizer, runner }
      const library = yield* Library
      for (const name of ["movie-sentiment", "animal-topic"]) {
        const t = Synthetic.taskNamed(name)
        if (!t) throw new Error(name)
        const train = Synthetic.generate(t, "train", 128)
        const valid = Synthetic.generate(t, "valid", 32)
        const r = yield* Tuning.tunePrompt(env, [train], valid, Tuning.sharedInit(env, 20, 0), 0, opts)
        const embedding = yield* Transfer.taskEmbedding(env, [train], valid, 0, { ...opts, steps: 10 })
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
              // the recipe `taskEmbedding` followed; spot transfer embeds the target by it
              provenance: { [Recipe.PROVENANCE_KEY]: Recipe.encodeRecipe(Recipe.uniformInit({ steps: 10, lr: 0.1, batch: 16 })) },
            },
          ],
        })
      }
    }).pipe(
      Effect.scoped,
      Effect.provide(
        Layer.mergeAll(
          NodeServices.layer,
          OnnxBackend.layer({ provider: "cpu" }),
          Layer.provide(DirectoryLibrary.layer(lib), NodeServices.layer),
        ),
      ),
    ),
  )
  writeTask(dir, "food-sentiment", 128, 32)
  writeTask(dir, "movie-sentiment", 128, 32)
  writeTask(dir, "animal-topic", 128, 32)
}, 600_000)

const transfer = (strategy: string, k: number, extra: string[] = []) => {
  const out = join(dir, `${strategy}.safetensors`)
  return spot([
    "transfer",
    "--model",
    MODEL,
    "--train",
    join(dir, "food-sentiment.train.jsonl"),
    "--valid",
    join(dir, "food-sentiment.valid.jsonl"),
    "--library",
    lib,
    "--strategy",
    strategy,
    "--k",
    String(k),
    "--embedding-steps",
    "10",
    "--steps",
    "6",
    "--eval-every",
    "3",
    "--batch",
    "16",
    "--lr",
    "0.1",
    "--max-source",
    "64",
    "--max-target",
    "8",
    "--out",
    out,
    "--json",
    ...extra,
  ]).then((r) => ({ ...r, out }))
}

describe("spot transfer", () => {
  it("best of top-1 retrieves the related source and writes the transferred prompt", async () => {
    const r = await transfer("best-of-top-k", 1)
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    const res = JSON.parse(r.stdout.trim().split("\n").pop() as string)
    expect(res.retrieved.map((x: { task: string }) => x.task)).toEqual(["movie-sentiment"])
    expect(res.runs).toHaveLength(1)
    expect(res.best.score).toBeGreaterThan(0.5)
    const p = Result.getOrThrow(Safetensors.decodeSafetensors(new Uint8Array(readFileSync(r.out))))
    expect(p.tensors.get("prompt")?.shape).toEqual([20, 128])
    expect(p.metadata.strategy).toBe("best-of-top-k")
  }, 600_000)

  it("top-k weighted average and top-k multi-task run their plans", async () => {
    const avg = await transfer("top-k-weighted-average", 2)
    expect(avg.code).toBe(0)
    expect(JSON.parse(avg.stdout.trim().split("\n").pop() as string).runs.map((x: { label: string }) => x.label)).toEqual([
      "weighted-average",
    ])
    const mt = await transfer("top-k-multi-task", 2, [
      "--source-data",
      `movie-sentiment=${join(dir, "movie-sentiment.train.jsonl")},animal-topic=${join(dir, "animal-topic.train.jsonl")}`,
    ])
    expect(mt.stderr).toBe("")
    const res = JSON.parse(mt.stdout.trim().split("\n").pop() as string)
    expect(res.runs[0].label).toBe("mixture(animal-topic+movie-sentiment)")
    expect(existsSync(mt.out)).toBe(true)
    // without the source data, the multi-task plan is refused with a clear error
    const missing = await transfer("top-k-multi-task", 2)
    expect(missing.code).not.toBe(0)
    expect(missing.stderr).toContain("whose data is not available")
  }, 600_000)
})
