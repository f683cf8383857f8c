/**
 * Prompt tuning (`Tuning`): the problem's loss and gradient are exact over micro-batches, a step's
 * batch and dropout masks are functions of (seed, step), and `tunePrompt` — the entry point — trains
 * the prompt through the generic loop and keeps the best checkpoint it evaluated.
 */
import { NodeServices } from "@effect/platform-node"
import { type Dataset, type HostTensor, ReferenceBackend, T5Presets, T5Runner, Tokenizers, Tuning } from "@spot/core"
import { Effect, Layer, Scope } from "effect"
import { describe, expect, it } from "vitest"
import { tinyConfig } from "./t5-util.ts"
import { fileScope, maxRelErr, randomTensor } from "./util.ts"

const config = tinyConfig({ vocabSize: 260, dropoutRate: 0.1 })
const model = T5Presets.randomT5(config, 7)
const tokenizer = Tokenizers.byteTokenizer
const dataset = (name: string, n: number): Dataset => ({
  task: { name, input: "{input}", target: "{target}", metrics: ["exact_match"] },
  file: `${name}.jsonl`,
  examples: Array.from({ length: n }, (_, i) => ({ input: `x${"ab".repeat(i % 4)}${i}`, target: i % 2 ? "yes" : "no" })),
})
const train = dataset("t", 12)
const valid = dataset("v", 4)

const scope = fileScope()
const run = <A, E>(e: Effect.Effect<A, E, NodeServices.NodeServices | import("@spot/core").Backend | Scope.Scope>) =>
  Effect.runPromise(e.pipe(Scope.provide(scope), Effect.provide(Layer.mergeAll(NodeServices.layer, ReferenceBackend.layer))))

const setup = (o: Partial<Tuning.DataSetup> = {}): Tuning.DataSetup => ({
  model,
  tokenizer,
  train: [train],
  valid,
  batchSize: 6,
  maxSource: 16,
  maxTarget: 4,
  seed: 3,
  ...o,
})

describe("Tuning.promptProblem", () => {
  it("micro-batches give the full batch's loss and gradient (weighted by target tokens)", async () => {
    const runner = await run(T5Runner.makeRunner(model))
    const init = randomTensor([3, 8], 1, -0.5, 0.5)
    const at = async (microBatch: number, step: number) => {
      const { problem } = await run(Tuning.promptProblem(setup({ microBatch, dropout: false }), runner, init))
      return run(problem.lossAndGrads(problem.init, step))
    }
    for (const step of [0, 1]) {
      const full = await at(6, step)
      for (const micro of [1, 2, 4]) {
        const part = await at(micro, step)
        expect(Math.abs(part.loss - full.loss) / full.loss).toBeLessThan(1e-5)
        const g = (r: typeof full) => (r.grads.get("prompt") as HostTensor<"f32">).data
        expect(maxRelErr(g(part), g(full))).toBeLessThan(1e-4)
      }
    }
  }, 120_000)

  it("a step's batch and dropout masks depend only on (seed, step): same twice, different across steps", async () => {
    const runner = await run(T5Runner.makeRunner(model))
    const init = randomTensor([3, 8], 2, -0.5, 0.5)
    const lossAt = async (seed: number, step: number) => {
      const { problem } = await run(Tuning.promptProblem(setup({ seed }), runner, init))
      return (await run(problem.lossAndGrads(problem.init, step))).loss
    }
    expect(await lossAt(3, 0)).toBe(await lossAt(3, 0))
    expect(await lossAt(3, 0)).not.toBe(await lossAt(3, 1))
    expect(await lossAt(3, 0)).not.toBe(await lossAt(4, 0))
  }, 120_000)
})

describe("Tuning.tunePrompt", () => {
  it("trains the prompt from its init and returns the best evaluated checkpoint with its curve", async () => {
    const runner = await run(T5Runner.makeRunner(model))
    const env = { model, tokenizer, runner }
    const init = Tuning.sharedInit(env, 3, 5)
    const o = { steps: 4, batchSize: 4, lr: 0.3, evalEvery: 2, maxSource: 16, maxTarget: 4, promptLength: 3 }
    const r = await run(Tuning.tunePrompt(env, [train], valid, init, 5, o))
    expect(r.curve.map(([s]) => s)).toEqual([2, 4])
    expect(r.bestScore).toBe(Math.max(...r.curve.map(([, s]) => s)))
    expect(r.last.shape).toEqual([3, 8])
    expect(r.last.data).not.toEqual(init.data)
    // the score it reports is the score of the prompt it returns
    expect(await run(Tuning.score(env, r.best, valid, o))).toBe(r.bestScore)
  }, 120_000)
})
