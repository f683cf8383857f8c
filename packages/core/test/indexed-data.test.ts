/**
 * Training sets read a batch at a time (`IndexedData`): a JSONL file indexed by record offsets gives
 * exactly the examples, classes, batches and losses of the same file loaded into memory — for random
 * files, budgets, batch sizes and seeds — and a bad record, a changed file or a T5-formatted task
 * is a typed error naming the file. The batch sampler that keeps an epoch's permutation answers
 * like `batchIndices` whatever the order of the steps asked.
 */
import { appendFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import {
  Batching,
  Data,
  type Dataset,
  type HostTensor,
  IndexedData,
  ReferenceBackend,
  T5Presets,
  T5Runner,
  Tokenizers,
  type TrainSet,
  Tuning,
} from "@spot/core"
import { Effect, type FileSystem, Layer, Result, Scope } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { T5Config } from "../src/t5/config.ts"
import { tempDirs } from "./node-util.ts"
import { tinyConfig } from "./t5-util.ts"
import { fileScope, randomTensor } from "./util.ts"

const temp = tempDirs("spot-indexed-")

const attempt = <A, E>(eff: Effect.Effect<A, E, FileSystem.FileSystem>) =>
  Effect.runPromise(Effect.result(eff).pipe(Effect.provide(NodeServices.layer)))
const ok = async <A, E>(eff: Effect.Effect<A, E, FileSystem.FileSystem>) => {
  const r = await attempt(eff)
  if (Result.isFailure(r)) throw new Error(JSON.stringify(r.failure))
  return r.success
}

const task = Data.columnTask("t", "premise: {p} hypothesis: {h}", "label")

/** Both ways of reading a file: loaded (as `spot train` does for small files) and indexed. */
const bothWays = (file: string, budget: Data.TextBudget) =>
  Effect.gen(function* () {
    const memory = Data.inferClassification(yield* Data.loadDataset(file, task, budget))
    const indexed = IndexedData.inferClassification(yield* IndexedData.indexJsonl(file, task, budget))
    return { memory, indexed }
  })

const record = fc.record({
  p: fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: "grapheme", maxLength: 12 }), fc.integer()),
  h: fc.string({ maxLength: 12 }),
  label: fc.oneof(fc.constantFrom("yes", "no", "9", "10", "maybe"), fc.string({ maxLength: 6 })),
  extra: fc.option(fc.array(fc.integer(), { maxLength: 3 })),
})
const fileOf = fc.record({
  records: fc.array(record, { minLength: 1, maxLength: 30 }),
  blank: fc.array(fc.constantFrom("", "  ", "\r"), { maxLength: 30 }),
  crlf: fc.boolean(),
  bom: fc.boolean(),
  lastNewline: fc.boolean(),
})
type FileSpec = typeof fileOf extends fc.Arbitrary<infer T> ? T : never

const writeJsonl = (dir: string, f: FileSpec) => {
  const eol = f.crlf ? "\r\n" : "\n"
  const lines = f.records.flatMap((r, i) => [JSON.stringify(r), ...(i < f.blank.length && f.blank[i] !== "" ? [f.blank[i]] : [])])
  const file = join(dir, "train.jsonl")
  writeFileSync(file, `${f.bom ? "\ufeff" : ""}${lines.join(eol)}${f.lastNewline ? eol : ""}`)
  return file
}

const config: T5Config = tinyConfig({ vocabSize: 260, dropoutRate: 0.1 })
const model = T5Presets.randomT5(config, 7)
const scope = fileScope()
const withBackend = <A, E>(e: Effect.Effect<A, E, NodeServices.NodeServices | import("@spot/core").Backend | Scope.Scope>) =>
  Effect.runPromise(e.pipe(Scope.provide(scope), Effect.provide(Layer.mergeAll(NodeServices.layer, ReferenceBackend.layer))))

describe("a JSONL indexed by record offsets", () => {
  it("gives the examples, classes and batches of the same file loaded into memory (random files, budgets, seeds)", async () => {
    const dir = temp()
    await fc.assert(
      fc.asyncProperty(
        fileOf,
        fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined }),
        fc.integer({ min: 1, max: 9 }),
        fc.nat(1000),
        fc.integer({ min: 2, max: 12 }),
        fc.array(fc.nat(12), { minLength: 1, maxLength: 6 }),
        async (spec, cut, batchSize, seed, maxSource, steps) => {
          const file = writeJsonl(dir, spec)
          const budget = cut === undefined ? {} : { input: cut }
          const { memory, indexed } = await ok(bothWays(file, budget))
          expect(indexed.size).toBe(memory.examples.length)
          expect(indexed.task).toEqual(memory.task)
          expect(indexed.candidates).toEqual(memory.candidates)
          const all = Array.from({ length: indexed.size }, (_, i) => i)
          expect(await ok(IndexedData.readExamples(indexed, all))).toEqual(memory.examples)
          const o = { batchSize, seed, maxSource, maxTarget: 4 }
          const fromMemory = Batching.trainBatches([memory], Tokenizers.byteTokenizer, o)
          const fromFile = Batching.trainBatches([indexed], Tokenizers.byteTokenizer, o)
          for (const step of steps) {
            const a = await ok(fromMemory.at(step))
            const b = await ok(fromFile.at(step))
            expect(b).toEqual(a)
            expect(Batching.makeBatch(b, { rows: batchSize, padId: 0 })).toEqual(
              Batching.makeBatch(a, { rows: batchSize, padId: 0 }),
            )
          }
          // once every example has been drawn, the truncation counts agree
          for (let s = 0; s * batchSize < indexed.size; s++) await ok(fromFile.at(s))
          expect(fromFile.truncated()).toBe(fromMemory.truncated())
        },
      ),
      { numRuns: 40 },
    )
  }, 120_000)

  it("a mixture with an indexed set draws the batches of the same mixture in memory", async () => {
    const dir = temp()
    const file = join(dir, "a.jsonl")
    writeFileSync(
      file,
      Array.from({ length: 23 }, (_, i) => JSON.stringify({ p: `a${i}`, h: "x", label: `${i % 3}` })).join("\n"),
    )
    const { memory, indexed } = await ok(bothWays(file, {}))
    const other: Dataset = {
      task,
      file: "b",
      examples: Array.from({ length: 7 }, (_, i) => ({ input: `b${i}`, target: "z" })),
    }
    const o = { batchSize: 8, seed: 4, maxSource: 8, maxTarget: 4, mixing: { temperature: 2 } }
    const a = Batching.trainBatches([memory, other], Tokenizers.byteTokenizer, o)
    const b = Batching.trainBatches([indexed, other] as TrainSet[], Tokenizers.byteTokenizer, o)
    expect(b.rates).toEqual(a.rates)
    for (const step of [0, 3, 1, 9]) expect(await ok(b.at(step))).toEqual(await ok(a.at(step)))
  })

  it("a record longer than a read chunk is cut like the loaded one", async () => {
    const dir = temp()
    const file = join(dir, "long.jsonl")
    const long = "word ".repeat(700_000) // 3.5 MB: spans several 1 MB chunks of the indexing pass
    writeFileSync(
      file,
      `${JSON.stringify({ p: "short", h: "a", label: "x" })}\n${JSON.stringify({ p: long, h: "b", label: "y" })}\n`,
    )
    const { memory, indexed } = await ok(bothWays(file, { input: 64 }))
    expect(await ok(IndexedData.readExamples(indexed, [1, 0, 1]))).toEqual([
      memory.examples[1],
      memory.examples[0],
      memory.examples[1],
    ])
    expect(memory.examples[1].input.length).toBeLessThan(200)
  })

  it("same losses and gradients as the loaded file, step by step (prompt tuning on the reference backend)", async () => {
    const dir = temp()
    const file = join(dir, "t.jsonl")
    writeFileSync(
      file,
      Array.from({ length: 11 }, (_, i) =>
        JSON.stringify({ p: `x${"ab".repeat(i % 4)}${i}`, h: "q", label: i % 2 ? "yes" : "no" }),
      ).join("\n"),
    )
    const { memory, indexed } = await ok(bothWays(file, {}))
    const runner = await withBackend(T5Runner.makeRunner(model))
    const init = randomTensor([3, 8], 1, -0.5, 0.5)
    const setup = (train: TrainSet): Tuning.DataSetup => ({
      model,
      tokenizer: Tokenizers.byteTokenizer,
      train: [train],
      valid: memory,
      batchSize: 4,
      microBatch: 2,
      maxSource: 16,
      maxTarget: 4,
      seed: 5,
    })
    const a = await withBackend(Tuning.promptProblem(setup(memory), runner, init))
    const b = await withBackend(Tuning.promptProblem(setup(indexed), runner, init))
    expect(b.indexed).toBe(true)
    for (const step of [0, 1, 4]) {
      const ra = await withBackend(a.problem.lossAndGrads(a.problem.init, step))
      const rb = await withBackend(b.problem.lossAndGrads(b.problem.init, step))
      expect(rb.loss).toBe(ra.loss)
      const g = (r: typeof ra) => Array.from((r.grads.get("prompt") as HostTensor<"f32">).data)
      expect(g(rb)).toEqual(g(ra))
    }
  }, 120_000)
})

describe("indexed files: errors", () => {
  it("a bad line is a DataError naming the file and line, as when loading", async () => {
    const dir = temp()
    const file = join(dir, "bad.jsonl")
    writeFileSync(file, `${JSON.stringify({ p: "a", h: "b", label: "c" })}\n\n{"p": oops}\n`)
    const r = await attempt(IndexedData.indexJsonl(file, task))
    const m = await attempt(Data.loadDataset(file, task))
    expect(Result.isFailure(r) && Result.isFailure(m)).toBe(true)
    if (Result.isFailure(r) && Result.isFailure(m)) {
      expect(r.failure).toMatchObject({ _tag: "DataError", file, line: 3, field: "(line)" })
      expect(r.failure.line).toBe((m.failure as { line: number }).line)
    }
    const missing = join(dir, "missing.jsonl")
    writeFileSync(missing, `${JSON.stringify({ p: "a", label: "c" })}\n`)
    const r2 = await attempt(IndexedData.indexJsonl(missing, task))
    expect(Result.isFailure(r2) && r2.failure).toMatchObject({ _tag: "DataError", file: missing, line: 1, field: "h" })
    const empty = join(dir, "empty.jsonl")
    writeFileSync(empty, "\n\n")
    const r3 = await attempt(IndexedData.indexJsonl(empty, task))
    expect(Result.isFailure(r3) && r3.failure).toMatchObject({ _tag: "DataError", file: empty, message: "no examples" })
  })

  it("a file changed after it was indexed is refused with a DataError naming it", async () => {
    const dir = temp()
    const file = join(dir, "c.jsonl")
    writeFileSync(file, `${JSON.stringify({ p: "a", h: "b", label: "c" })}\n`)
    const ix = await ok(IndexedData.indexJsonl(file, task))
    appendFileSync(file, `${JSON.stringify({ p: "d", h: "e", label: "f" })}\n`)
    const r = await attempt(IndexedData.readExamples(ix, [0]))
    expect(Result.isFailure(r) && r.failure).toMatchObject({ _tag: "DataError", file })
    expect(Result.isFailure(r) && r.failure.message).toContain("changed since it was indexed")
  })

  it("a T5-formatted task is refused (it is read into memory)", async () => {
    const dir = temp()
    const file = join(dir, "rte.jsonl")
    writeFileSync(file, `${JSON.stringify({ premise: "a", hypothesis: "b", label: 0, idx: 0 })}\n`)
    const rte: Data.TaskDef = { ...task, format: { kind: "stsb" } }
    const r = await attempt(IndexedData.indexJsonl(file, rte))
    expect(Result.isFailure(r) && r.failure).toMatchObject({ _tag: "DataError", file, field: "(task)" })
  })
})

describe("Batching.batchSampler", () => {
  it("answers like batchIndices for any order of steps (its epoch permutation is cached)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 16 }),
        fc.nat(),
        fc.array(fc.nat(40), { minLength: 1, maxLength: 20 }),
        (n, B, seed, steps) => {
          const sample = Batching.batchSampler(n, B, seed)
          for (const s of steps) expect(sample(s)).toEqual(Batching.batchIndices(n, B, seed, s))
        },
      ),
    )
  })
})
