/**
 * One task-embedding recipe everywhere: `spot train --embedding-step` records the early checkpoint's
 * recipe, `spot library add` keeps it, and `spot transfer` embeds the target by it — bit for bit the
 * embedding the library holds for the same task, seed and recipe. A different recipe is refused
 * with both named, unless opted in. Then `spot study --spec` over user tasks and its spec errors.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Safetensors } from "@spot/core"
import { Result } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { ROOT, spot, tempDir, writeTask } from "./helpers.ts"

const MODEL = join(ROOT, "packages/experiments/models/micro-t5")
const FIXTURES = join(ROOT, "packages/cli/test/fixtures/user-tasks")
let dir: string
const data = (name: string) => ["--train", join(dir, `${name}.train.jsonl`), "--valid", join(dir, `${name}.valid.jsonl`)]
const common = ["--model", MODEL, "--seed", "0", "--batch", "8", "--lr", "0.3", "--max-source", "64", "--max-target", "8"]
const prompt = (file: string) => {
  const st = Result.getOrThrow(Safetensors.decodeSafetensors(new Uint8Array(readFileSync(file))))
  return { data: st.tensors.get("prompt")?.data as Float32Array, metadata: st.metadata }
}
const last = (stdout: string) => JSON.parse(stdout.trim().split("\n").pop() as string)
/** `spot train` on movie-sentiment: 4 steps, prompt length 20, the early checkpoint at `embeddingStep`. */
const trainMovie = (ckpt: string, out: string, embeddingStep: number, extra: string[] = []) =>
  spot([
    "train",
    ...common,
    ...data("movie-sentiment"),
    "--steps",
    "4",
    "--embedding-step",
    String(embeddingStep),
    "--eval-every",
    "4",
    "--prompt-length",
    "20",
    ...extra,
    "--checkpoint-dir",
    ckpt,
    "--out",
    out,
    "--json",
  ])

beforeAll(() => {
  dir = tempDir()
  writeTask(dir, "movie-sentiment", 64, 16)
}, 60_000)

describe("the task-embedding recipe", () => {
  it("spot transfer's target embedding equals the library's for the same task, seed and recipe, bit for bit", async () => {
    const ckpt = join(dir, "ckpt")
    const trained = await trainMovie(ckpt, join(dir, "movie.safetensors"), 3)
    expect(trained.stderr).toBe("")
    expect(trained.code).toBe(0)
    const early = prompt(join(ckpt, "early.safetensors"))
    expect(JSON.parse(early.metadata.embedding_recipe)).toEqual({
      kind: "early-checkpoint",
      steps: 3,
      lr: 0.3,
      batch: 8,
      init: "vocab",
      optimizer: "adafactor",
    })
    const lib = join(dir, "lib")
    const added = await spot([
      "library",
      "add",
      "movie-sentiment",
      "--library",
      lib,
      "--source",
      join(dir, "movie.safetensors"),
      "--embedding",
      join(ckpt, "early.safetensors"),
      "--model",
      MODEL,
    ])
    expect(added.code).toBe(0)
    const show = last((await spot(["library", "show", "movie-sentiment", "--library", lib, "--json"])).stdout)
    expect(show.seeds[0].provenance.embedding_recipe).toBe(early.metadata.embedding_recipe)

    const transfer = (extra: string[]) =>
      spot([
        "transfer",
        ...common,
        ...data("movie-sentiment"),
        "--library",
        lib,
        "--steps",
        "1",
        "--eval-every",
        "1",
        "--out",
        join(dir, "t.safetensors"),
        "--json",
        ...extra,
      ])
    const t = await transfer(["--embedding-out", join(dir, "target-embedding.safetensors")])
    expect(t.stderr).toBe("")
    expect(t.code).toBe(0)
    expect(last(t.stdout).embedding_recipe).toBe(early.metadata.embedding_recipe)
    const target = prompt(join(dir, "target-embedding.safetensors"))
    expect(target.data.length).toBe(20 * 128)
    const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)
    expect(bytes(target.data).equals(bytes(early.data))).toBe(true)

    // another recipe: refused, both named; accepted with the opt-in
    const other = await transfer(["--embedding-recipe", "uniform-init", "--embedding-steps", "3"])
    expect(other.code).not.toBe(0)
    expect(other.stderr).toContain("RecipeMismatch")
    expect(other.stderr).toContain("early-checkpoint(steps 3, lr 0.3, batch 8, vocab, adafactor)")
    expect(other.stderr).toContain("uniform-init(steps 3, lr 0.3, batch 8, uniform, adafactor)")
    const mixed = await transfer(["--embedding-recipe", "uniform-init", "--embedding-steps", "3", "--allow-mixed-recipes"])
    expect(mixed.code).toBe(0)
  }, 900_000)
})

describe("spot train --schedule", () => {
  it("follows the schedule (cosine, 2 warmup steps) and records no recipe for such an early checkpoint", async () => {
    const ckpt = join(dir, "ckpt-cosine")
    const r = await trainMovie(ckpt, join(dir, "cosine.safetensors"), 2, ["--schedule", "cosine", "--warmup", "2"])
    expect(r.code).toBe(0)
    const lrs = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((e) => e.event === "step")
      .map((e) => e.lr)
    // by hand: warmup 0.3·1/2, 0.3; then 0.3·(1 + cos(π·t/2))/2 for t = 1, 2 → 0.15, 0
    expect(lrs).toHaveLength(4)
    const expected = [0.15, 0.3, 0.15, 0]
    for (let i = 0; i < 4; i++) expect(lrs[i]).toBeCloseTo(expected[i], 12)
    expect(prompt(join(ckpt, "early.safetensors")).metadata.embedding_recipe).toBeUndefined()
  }, 600_000)
})

describe("spot study --spec", () => {
  it("runs a study over user tasks (label map, inferred classes) beside generated ones", async () => {
    const spec = JSON.parse(readFileSync(join(FIXTURES, "study.json"), "utf8"))
    const small = {
      ...spec,
      model: MODEL,
      tasks: Object.fromEntries(
        Object.entries(spec.tasks as Record<string, Record<string, unknown>>).map(([k, v]) => [
          k,
          "synthetic" in v
            ? { ...v, train: 32, valid: 16 }
            : { ...v, train: join(FIXTURES, String(v.train)), valid: join(FIXTURES, String(v.valid)) },
        ]),
      ),
      sources: ["movie-sentiment", "pet-or-dish"],
      targets: ["product-reviews"],
      sourceSteps: 4,
      targetSteps: 2,
      embeddingSteps: 2,
      tune: { ...spec.tune, evalEvery: 2, maxEvalExamples: 16 },
    }
    const file = join(dir, "spec.json")
    writeFileSync(file, JSON.stringify(small))
    const out = join(dir, "study")
    const r = await spot(["study", "--spec", file, "--out", out, "--json"], 900_000)
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    const res = last(r.stdout)
    expect(res.sources).toEqual(["movie-sentiment", "pet-or-dish"])
    expect(res.targets).toEqual(["product-reviews"])
    expect(res.rer).toHaveLength(1)
    expect(res.rer[0]).toHaveLength(2)
    expect(JSON.parse(res.recipe).kind).toBe("early-checkpoint")
    expect(res.cells).toBe(2 + 1 + 2 + 1 + 2)
  }, 900_000)

  it("names the spec file and the field of a bad spec", async () => {
    const bad = (spec: unknown) => {
      const file = join(dir, `bad-${Math.random().toString(36).slice(2)}.json`)
      writeFileSync(file, JSON.stringify(spec))
      return spot(["study", "--spec", file, "--out", join(dir, "never")]).then((r) => ({ ...r, file }))
    }
    const tasks = { a: { synthetic: "movie-sentiment", train: 8, valid: 8 } }
    const lr = await bad({ tasks, sources: ["a"], targets: ["a"], tune: { lr: -1 } })
    expect(lr.code).not.toBe(0)
    expect(lr.stderr).toContain(lr.file)
    expect(lr.stderr).toContain('["tune"]["lr"]')
    const missing = await bad({ tasks, sources: ["a", "b"], targets: ["a"] })
    expect(missing.code).not.toBe(0)
    expect(missing.stderr).toContain(`${missing.file} ["sources"]`)
    expect(missing.stderr).toContain("b")
    const preset = await bad({ tasks: { a: { preset: "glue/nope", train: "x", valid: "y" } }, sources: ["a"], targets: ["a"] })
    expect(preset.code).toBe(3) // in a spec file it is bad input, not usage
    expect(preset.stderr).toContain(`${preset.file} ["tasks"]["a"]["preset"]`)
  }, 300_000)
})
