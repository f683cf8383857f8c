/**
 * Evaluation by decoding beside rank classification: each result says which method made it; decoded
 * outputs go through T5's postprocessor (an output that is no label is wrong); ReCoRD decodes each
 * passage/query once; the score is the mean of the task's metrics.
 */
import { NodeServices } from "@effect/platform-node"
import {
  Benchmarks,
  Data,
  Evaluate,
  type HostTensor,
  ReferenceBackend,
  T5Decode,
  T5Presets,
  T5Runner,
  Tokenizers,
  Tuning,
} from "@spot/core"
import { Effect, Result } from "effect"
import { describe, expect, it } from "vitest"
import { tinyConfig } from "./t5-util.ts"
import { randomTensor } from "./util.ts"

const run = <A, E>(e: Effect.Effect<A, E, import("@spot/core").Backend>) =>
  Effect.runSync(e.pipe(Effect.provide(ReferenceBackend.layer)))

const config = tinyConfig({ vocabSize: 259 })
const model = T5Presets.randomT5(config, 5)
const runner = run(T5Runner.makeRunner(model).pipe(Effect.scoped))
const tok = Tokenizers.byteTokenizer
const prompt = randomTensor([2, 8], 3) as HostTensor<"f32">
const dataset = (name: string, recs: object[]) =>
  Result.getOrThrow(
    Data.makeDataset(
      Result.getOrThrow(Benchmarks.taskPreset(name)),
      recs.map((r, i) => [i + 1, r as Data.RawRecord] as const),
      "t.jsonl",
    ),
  )
const o = { batchSize: 4, maxSource: 64, maxTarget: 3 }

describe("evaluation methods", () => {
  const mrpc = dataset(
    "glue/mrpc",
    [0, 1, 1, 0, 1].map((label, i) => ({ sentence1: `a${i}`, sentence2: `b${i}`, label, idx: i })),
  )
  it("rank: predictions are label strings; decode: the greedy outputs, scored through the postprocessor", () => {
    const rank = run(Evaluate.evaluatePrompt(runner, tok, prompt, mrpc, o))
    expect(rank.method).toBe("rank")
    for (const p of rank.predictions) expect(mrpc.candidates).toContain(p)
    const dec = run(Evaluate.evaluatePrompt(runner, tok, prompt, mrpc, { ...o, method: "decode" }))
    expect(dec.method).toBe("decode")
    // the same strings as decoding by hand
    const enc = mrpc.examples.map((e) => tok.encode(e.input))
    const S = Math.max(...enc.map((x) => x.length))
    const ids = new Int32Array(enc.length * S)
    const mask = new Float32Array(enc.length * S)
    enc.forEach((x, r) => {
      ids.set(x, r * S)
      mask.fill(1, r * S, r * S + x.length)
    })
    const gen = run(
      T5Decode.generateGreedy(runner, {
        prompt,
        inputIds: { dtype: "i32", shape: [enc.length, S], data: ids },
        attentionMask: { dtype: "f32", shape: [enc.length, S], data: mask },
        maxNewTokens: 3,
      }),
    )
    const L = gen.shape[1]
    const byHand = enc.map((_, r) => tok.decode(Array.from(gen.data.subarray(r * L + 1, (r + 1) * L))))
    expect(dec.predictions).toEqual(byHand)
    // accuracy: outputs that are exactly the gold label name; F1 with invalid outputs as errors
    const gold = mrpc.examples.map((e) => e.target)
    expect(dec.metrics.accuracy).toBeCloseTo(byHand.filter((p, i) => p === gold[i]).length / gold.length)
    const valid = byHand.map((p, i) =>
      p === "equivalent" || p === "not_equivalent" ? p : gold[i] === "equivalent" ? "not_equivalent" : "equivalent",
    )
    let tp = 0
    let fp = 0
    let fn = 0
    valid.forEach((p, i) => {
      if (p === "equivalent" && gold[i] === "equivalent") tp++
      else if (p === "equivalent") fp++
      else if (gold[i] === "equivalent") fn++
    })
    expect(dec.metrics.f1).toBeCloseTo(tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn))
    for (const r of [rank, dec]) expect(r.score).toBeCloseTo((r.metrics.f1 + r.metrics.accuracy) / 2)
  })
  it("ReCoRD decodes each passage/query once; rank classification of it is a typed error", () => {
    const rec = (p: number, answers: string[]) => ({
      passage: `passage ${p}`,
      query: "@placeholder here",
      entities: ["A", "B"],
      answers,
      idx: { passage: p, query: 0 },
    })
    const ds = dataset("superglue/record", [rec(0, ["A", "B"]), rec(1, ["B"])])
    expect(ds.examples).toHaveLength(3)
    const r = run(Evaluate.evaluatePrompt(runner, tok, prompt, ds, o))
    expect(r.method).toBe("decode")
    expect(r.predictions[0]).toBe(r.predictions[1])
    expect(Object.keys(r.metrics).sort()).toEqual(["squad_em", "squad_f1"])
    const bad = Effect.runSync(
      Effect.result(Evaluate.evaluatePrompt(runner, tok, prompt, ds, { ...o, method: "rank" })).pipe(
        Effect.provide(ReferenceBackend.layer),
      ),
    )
    expect(Result.isFailure(bad) && bad.failure).toMatchObject({ _tag: "InputError", field: "method" })
  })

  it("training validates by the method asked for, and selects by the mean of the task's metrics", () => {
    const setup = (evalMethod?: Evaluate.EvalMethod): Tuning.DataSetup => ({
      model,
      tokenizer: tok,
      train: [mrpc],
      valid: mrpc,
      batchSize: 2,
      maxSource: 64,
      maxTarget: 3,
      seed: 0,
      ...(evalMethod ? { evalMethod } : {}),
    })
    const evalWith = (m?: Evaluate.EvalMethod) =>
      Effect.runSync(
        Effect.gen(function* () {
          const { problem } = yield* Tuning.promptProblem(setup(m), runner, prompt)
          return yield* problem.evaluate(problem.init)
        }).pipe(Effect.provide(ReferenceBackend.layer), Effect.provide(NodeServices.layer)),
      ) as Evaluate.EvalResult
    for (const [m, want] of [
      [undefined, "rank"],
      ["decode", "decode"],
    ] as const) {
      const r = evalWith(m)
      expect(r.method).toBe(want)
      expect(r.score).toBeCloseTo((r.metrics.f1 + r.metrics.accuracy) / 2)
    }
  })
})
