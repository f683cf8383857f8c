/** `spot pretrain`: trains the micro T5 from scratch (model tuning) on the generated corpus. */

import { Optim, Safetensors, T5Checkpoint, T5Config, T5Presets, T5Runner, Trainer, Tuning } from "@spot/core"
import { Effect, Path } from "effect"
import { MICRO_CONFIG, microTokenizer, pretrainingCorpus } from "./micro.ts"

export interface PretrainOptions {
  readonly out: string
  readonly steps: number
  readonly seed: number
  readonly batchSize?: number
  readonly lr?: number
  readonly evalEvery?: number
  readonly checkpointDir?: string
  readonly resume?: boolean
}

export const pretrainMicro = (o: PretrainOptions) =>
  Effect.gen(function* () {
    const model = T5Presets.randomT5(MICRO_CONFIG, o.seed, "micro-t5")
    const trainSets = pretrainingCorpus(4000, o.seed, "train")
    const valid = pretrainingCorpus(40, o.seed, "valid")
    const validAll = {
      ...valid[0],
      examples: valid.flatMap((d) => d.examples),
      task: { ...valid[0].task, name: "corpus", metrics: ["exact_match" as const] },
    }
    const runner = yield* T5Runner.makeRunner(model, { feedWeights: true })
    const setup = {
      model,
      tokenizer: microTokenizer,
      train: trainSets,
      valid: validAll,
      batchSize: o.batchSize ?? 64,
      maxSource: 64,
      maxTarget: 40,
      seed: o.seed,
      evalBatchSize: 64,
      ...(o.checkpointDir ? { checkpointDir: o.checkpointDir } : {}),
      meta: { recipe: `spot pretrain --steps ${o.steps} --seed ${o.seed}` },
    }
    const { problem } = yield* Tuning.modelProblem(setup, runner)
    const lr = o.lr ?? 3e-3
    const result = yield* Trainer.train(problem, {
      steps: o.steps,
      evalEvery: o.evalEvery ?? Math.max(1, Math.floor(o.steps / 5)),
      seed: o.seed,
      optimizer: Optim.adam({ weightDecay: 0 }),
      schedule: { kind: "cosine", lr, warmup: Math.min(100, Math.floor(o.steps / 10)), total: o.steps },
      clipNorm: 1,
      runKey: `pretrain-${o.steps}-${o.seed}-${o.batchSize ?? 64}-${lr}`,
      ...(o.checkpointDir ? { checkpointDir: o.checkpointDir, resume: o.resume ?? false } : {}),
    })
    const final = { ...model, weights: result.params }
    yield* T5Checkpoint.saveCheckpoint(o.out, final, { recipe: setup.meta.recipe, exact_match: String(result.best.score) })
    // a byte model: tokenizer discovery picks the byte tokenizer from this key
    const cfg = (yield* Path.Path).join(o.out, "config.json")
    const json = { ...T5Config.encodeConfig(final.config), spot_tokenizer: "byte" }
    yield* Safetensors.writeFileAtomic(cfg, new TextEncoder().encode(`${JSON.stringify(json, null, 2)}\n`))
    return { model: final, score: result.best.score, history: result.history }
  })
