/**
 * Prompt tuning, and the model-tuning baseline. `tunePrompt` is the entry point for prompt tuning
 * (Adafactor, constant rate, checkpoints kept in memory, several validation sets): SPoT transfer,
 * task embeddings and studies use it. Underneath, `promptProblem` and `modelProblem` describe what is
 * trained (only the prompt gets gradients, or every weight) as a `Trainer.Problem`, whose batches come
 * from a task or a mixture of tasks; `Trainer.train` is the generic loop that optimises a problem
 * (`spot train` drives it directly for file checkpoints, schedules and resume).
 */
import { Effect, FileSystem, Path } from "effect"
import type { Encoded, MixingOptions } from "../data/batching.ts"
import { makeBatch, trainBatches } from "../data/batching.ts"
import type { Dataset, TrainSet } from "../data/dataset.ts"
import type { Tokenizer } from "../data/tokenizer.ts"
import { CheckpointError, type DataError } from "../errors.ts"
import { encodeSafetensors, writeFileAtomic } from "../graph/safetensors.ts"
import type { HostTensor } from "../graph/tensor.ts"
import type { T5Model } from "../t5/checkpoint.ts"
import { fingerprint, saveCheckpoint } from "../t5/checkpoint.ts"
import type { Runner } from "../t5/runner.ts"
import { evaluatePrompt } from "./evaluate.ts"
import { fromVocab, fromVocabWithReplacement } from "./init.ts"
import type { Schedule } from "./optim.ts"
import { adafactor, adafactorHF } from "./optim.ts"
import type { Params, Problem } from "./trainer.ts"
import { train } from "./trainer.ts"

export interface DataSetup {
  readonly model: T5Model
  readonly tokenizer: Tokenizer
  /** One task, or several mixed; each in memory or an indexed file (`IndexedData`) read a batch at a time. */
  readonly train: readonly TrainSet[]
  readonly valid: Dataset
  readonly batchSize: number
  /** Rows per backend call; gradients are accumulated exactly over micro-batches. Default: batchSize. */
  readonly microBatch?: number
  readonly maxSource: number
  readonly maxTarget: number
  readonly mixing?: MixingOptions
  readonly seed: number
  readonly evalBatchSize?: number
  readonly maxEvalExamples?: number
  /** How validation predicts (rank classification or decoding); default: rank for classification tasks. */
  readonly evalMethod?: import("./evaluate.ts").EvalMethod
  readonly checkpointDir?: string
  /** Extra metadata for written files (task name, init, …). */
  readonly meta?: Readonly<Record<string, string>>
  /** Training-mode dropout at the model's `dropout_rate` (default: on, as in the paper and PEFT). */
  readonly dropout?: boolean
}

/** The dropout stream of micro-batch `chunk` of 0-based `step` (a pure function, so resumes match). */
export const dropoutSeed = (seed: number, step: number, chunk: number): number =>
  (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca77) ^ Math.imul(chunk + 1, 0xc2b2ae3d)) >>> 0

/** The batch source of a setup: step → encoded examples (`Batching.trainBatches`); plus how many were truncated. */
export const batchSource = (
  s: Pick<DataSetup, "train" | "tokenizer" | "batchSize" | "seed" | "maxSource" | "maxTarget" | "mixing">,
) =>
  trainBatches(s.train, s.tokenizer, {
    batchSize: s.batchSize,
    seed: s.seed,
    maxSource: s.maxSource,
    maxTarget: s.maxTarget,
    ...(s.mixing ? { mixing: s.mixing } : {}),
  })

/** A micro-batch of `rows` rows, lengths bucketed (`LENGTH_BUCKET`) and capped at the setup's maxima. */
const batchOf = (s: DataSetup, chunk: readonly Encoded[], rows: number) =>
  makeBatch(chunk, { rows, padId: s.tokenizer.padId, maxSource: s.maxSource, maxTarget: s.maxTarget })

/** The dropout seed of a training micro-batch, unless the setup turned dropout off. */
const trainingDropout = (s: DataSetup, step: number, chunk: number): { dropoutSeed?: number } =>
  s.dropout === false ? {} : { dropoutSeed: dropoutSeed(s.seed, step, chunk) }

const tokens = (items: readonly Encoded[]) => items.reduce((a, i) => a + i.tgt.length, 0)

/** Σ over micro-batches of (loss, grads) weighted by their share of target tokens: the full-batch mean. */
const accumulate = <E, R>(
  items: readonly Encoded[],
  micro: number,
  run: (chunk: readonly Encoded[], index: number) => Effect.Effect<{ loss: number; grads: Params }, E, R>,
) =>
  Effect.gen(function* () {
    const total = tokens(items)
    let loss = 0
    const acc = new Map<string, Float32Array>()
    const shapes = new Map<string, readonly number[]>()
    for (let i = 0; i < items.length; i += micro) {
      const chunk = items.slice(i, i + micro)
      const w = total === 0 ? 0 : tokens(chunk) / total
      const r = yield* run(chunk, i / micro)
      loss += w * r.loss
      for (const [k, g] of r.grads) {
        let a = acc.get(k)
        if (!a) {
          a = new Float32Array(g.data.length)
          acc.set(k, a)
          shapes.set(k, g.shape)
        }
        for (let j = 0; j < a.length; j++) a[j] += w * g.data[j]
      }
    }
    const grads = new Map<string, HostTensor<"f32">>(
      [...acc].map(([k, data]) => [k, { dtype: "f32", shape: shapes.get(k) ?? [], data }]),
    )
    return { loss, grads }
  })

const fail = (file: string) => (e: { message: string }) => new CheckpointError({ file, field: "file", message: e.message })

/** Prompt tuning of `init` (shape [L, d_model]). */
export const promptProblem = (s: DataSetup, runner: Runner, init: HostTensor<"f32">) =>
  Effect.gen(function* () {
    const path = yield* Path.Path
    const src = batchSource(s)
    const micro = Math.max(1, Math.min(s.microBatch ?? s.batchSize, s.batchSize))
    const fp = fingerprint(s.model)
    const problem: Problem<
      import("../errors.ts").BackendError | import("../errors.ts").InputError | CheckpointError | DataError,
      FileSystem.FileSystem
    > = {
      init: new Map([["prompt", init]]),
      lossAndGrads: (params, step) =>
        Effect.flatMap(src.at(step), (items) =>
          accumulate(items, micro, (chunk, index) =>
            Effect.map(
              runner.run({
                prompt: params.get("prompt") as HostTensor<"f32">,
                batch: batchOf(s, chunk, micro),
                outputs: ["loss", "promptGrad"],
                ...trainingDropout(s, step, index),
              }),
              (r) => ({ loss: r.loss?.data[0] ?? Number.NaN, grads: new Map([["prompt", r.promptGrad as HostTensor<"f32">]]) }),
            ),
          ),
        ),
      evaluate: (params) =>
        evaluatePrompt(runner, s.tokenizer, params.get("prompt") as HostTensor<"f32">, s.valid, {
          batchSize: s.evalBatchSize ?? 32,
          maxSource: s.maxSource,
          maxTarget: s.maxTarget,
          ...(s.maxEvalExamples ? { maxExamples: s.maxEvalExamples } : {}),
          ...(s.evalMethod ? { method: s.evalMethod } : {}),
        }),
      save: (which, params, meta) => {
        if (!s.checkpointDir) return Effect.succeed("")
        const file = path.join(s.checkpointDir, `${which}.safetensors`)
        return writeFileAtomic(
          file,
          encodeSafetensors({ prompt: params.get("prompt") as HostTensor<"f32"> }, promptMetadata(s, fp, meta)),
        ).pipe(Effect.mapError(fail(file)), Effect.as(file))
      },
    }
    return { problem, truncated: src.truncated, indexed: src.indexed, rates: src.rates }
  })

export const promptMetadata = (
  s: Pick<DataSetup, "train" | "seed" | "meta">,
  fp: string,
  meta: { step: number; score: number; metrics: Readonly<Record<string, number>> },
): Record<string, string> => ({
  format: "spot-prompt/1",
  model_fingerprint: fp,
  task: s.train.map((d) => d.task.name).join("+"),
  step: String(meta.step),
  seed: String(s.seed),
  metric: Number.isFinite(meta.score) ? String(meta.score) : "",
  metrics: JSON.stringify(meta.metrics),
  ...s.meta,
})

/** Model tuning: every weight trained, no prompt (`runner` must feed weights). */
export const modelProblem = (s: DataSetup, runner: Runner) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const src = batchSource(s)
    const micro = Math.max(1, Math.min(s.microBatch ?? s.batchSize, s.batchSize))
    const empty: HostTensor<"f32"> = { dtype: "f32", shape: [0, s.model.config.dModel], data: new Float32Array(0) }
    const problem: Problem<
      import("../errors.ts").BackendError | import("../errors.ts").InputError | CheckpointError | DataError,
      FileSystem.FileSystem
    > = {
      init: s.model.weights,
      lossAndGrads: (params, step) =>
        Effect.flatMap(src.at(step), (items) =>
          accumulate(items, micro, (chunk, index) =>
            Effect.map(
              runner.run({
                prompt: empty,
                batch: batchOf(s, chunk, micro),
                outputs: ["loss", "weightGrads"],
                weights: params,
                ...trainingDropout(s, step, index),
              }),
              (r) => ({ loss: r.loss?.data[0] ?? Number.NaN, grads: r.weightGrads ?? new Map() }),
            ),
          ),
        ),
      evaluate: (params) =>
        evaluatePrompt(runner, s.tokenizer, empty, s.valid, {
          batchSize: s.evalBatchSize ?? 32,
          maxSource: s.maxSource,
          maxTarget: s.maxTarget,
          weights: params,
          ...(s.maxEvalExamples ? { maxExamples: s.maxEvalExamples } : {}),
          ...(s.evalMethod ? { method: s.evalMethod } : {}),
        }),
      save: (which, params, meta) =>
        Effect.gen(function* () {
          if (!s.checkpointDir) return ""
          const dir = path.join(s.checkpointDir, which)
          yield* saveCheckpoint(
            dir,
            { ...s.model, weights: params },
            { step: String(meta.step), metric: String(meta.score), ...s.meta },
          ).pipe(Effect.provideService(FileSystem.FileSystem, fs), Effect.provideService(Path.Path, path))
          return dir
        }),
    }
    return { problem, truncated: src.truncated, indexed: src.indexed, rates: src.rates }
  })

export interface TuneOptions {
  readonly steps: number
  readonly batchSize: number
  readonly lr: number
  readonly evalEvery: number
  readonly maxSource: number
  readonly maxTarget: number
  readonly promptLength: number
  readonly maxEvalExamples?: number
  /** Save the early checkpoint (task embedding) at this step. */
  readonly embeddingStep?: number
  readonly checkpointDir?: string
  /** `adafactor` (t5x, default) or `adafactor-hf` (transformers' variant, for reproducing earlier runs). */
  readonly optimizer?: OptimizerName
  /** The shared init's vocabulary sampler (default `vocab`: without replacement). */
  readonly vocabInit?: VocabInit
  /** Learning-rate schedule (default: constant `lr`). */
  readonly schedule?: Schedule
}

export type OptimizerName = "adafactor" | "adafactor-hf"
export type VocabInit = "vocab" | "vocab-with-replacement"

export const optimizerNamed = (name: OptimizerName = "adafactor") => (name === "adafactor-hf" ? adafactorHF() : adafactor())

export interface Tuned {
  readonly best: HostTensor<"f32">
  readonly bestScore: number
  readonly bestStep: number
  readonly early?: HostTensor<"f32">
  /** Validation score after each evaluation: [step, score]. */
  readonly curve: ReadonlyArray<readonly [number, number]>
  readonly last: HostTensor<"f32">
}

export interface Env {
  readonly model: T5Model
  readonly tokenizer: Tokenizer
  readonly runner: Runner
}

/** The shared initialisation of a seed for prompt tuning (vocabulary-sampled): the same for every task. */
export const sharedInit = (env: Env, L: number, seed: number, init: VocabInit = "vocab") =>
  (init === "vocab-with-replacement" ? fromVocabWithReplacement : fromVocab)(env.model, env.tokenizer, L, seed)

/**
 * Prompt tuning of `init` on `train` (one task or a mixture), selected on `valid` (several
 * validation sets, e.g. one per task of a mixture: the mean of their scores).
 */
export const tunePrompt = (
  env: Env,
  trainSets: readonly Dataset[],
  validSets: Dataset | readonly Dataset[],
  init: HostTensor<"f32">,
  seed: number,
  o: TuneOptions,
) =>
  Effect.gen(function* () {
    let early: HostTensor<"f32"> | undefined
    const valids: readonly Dataset[] = Array.isArray(validSets) ? validSets : [validSets as Dataset]
    const valid = valids[0]
    const { problem } = yield* promptProblem(
      {
        model: env.model,
        tokenizer: env.tokenizer,
        train: trainSets,
        valid,
        batchSize: o.batchSize,
        maxSource: o.maxSource,
        maxTarget: o.maxTarget,
        seed,
        ...(o.maxEvalExamples ? { maxEvalExamples: o.maxEvalExamples } : {}),
        ...(o.checkpointDir ? { checkpointDir: o.checkpointDir } : {}),
      },
      env.runner,
      init,
    )
    const evaluateAll = (params: ReadonlyMap<string, HostTensor<"f32">>) =>
      Effect.gen(function* () {
        const scores: number[] = []
        const metrics: Record<string, number> = {}
        for (const ds of valids) {
          const r = yield* score(env, params.get("prompt") as HostTensor<"f32">, ds, o)
          scores.push(r)
          metrics[ds.task.name] = r
        }
        return { score: scores.reduce((a, b) => a + b, 0) / scores.length, metrics }
      })
    // keep checkpoints in memory (a study runs thousands of these); files only when asked
    const inMemory = {
      ...problem,
      ...(valids.length > 1 ? { evaluate: evaluateAll } : {}),
      save: (
        which: "best" | "last" | "early",
        params: ReadonlyMap<string, HostTensor<"f32">>,
        meta: { step: number; score: number; metrics: Readonly<Record<string, number>> },
      ) =>
        Effect.gen(function* () {
          if (which === "early") early = params.get("prompt")
          return yield* problem.save(which, params, meta)
        }),
    }
    const r = yield* train(inMemory, {
      steps: o.steps,
      evalEvery: o.evalEvery,
      ...(o.embeddingStep ? { embeddingStep: o.embeddingStep } : {}),
      seed,
      optimizer: optimizerNamed(o.optimizer),
      schedule: o.schedule ?? { kind: "constant", lr: o.lr },
      runKey: "in-memory",
      ...(o.checkpointDir ? { checkpointDir: o.checkpointDir } : {}),
    })
    return {
      best: r.best.params.get("prompt") as HostTensor<"f32">,
      bestScore: r.best.score,
      bestStep: r.best.step,
      ...(early ? { early } : {}),
      curve: r.history.filter((h) => h.score !== undefined).map((h) => [h.step, h.score as number] as const),
      last: r.params.get("prompt") as HostTensor<"f32">,
    } satisfies Tuned
  })

/** Score of a prompt on a dataset (the task's first metric). */
export const score = (
  env: Env,
  prompt: HostTensor<"f32">,
  ds: Dataset,
  o: Pick<TuneOptions, "maxSource" | "maxTarget" | "maxEvalExamples">,
) =>
  Effect.map(
    evaluatePrompt(env.runner, env.tokenizer, prompt, ds, {
      maxSource: o.maxSource,
      maxTarget: o.maxTarget,
      ...(o.maxEvalExamples ? { maxExamples: o.maxEvalExamples } : {}),
    }),
    (r) => r.score,
  )
