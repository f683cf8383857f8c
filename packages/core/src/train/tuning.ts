/**
 * The two trainable problems: prompt tuning (only the prompt gets gradients) and model tuning (every
 * weight does; the paper's baseline). Both read batches from a task or a mixture of tasks.
 */
import { Effect, FileSystem, Path } from "effect"
import type { Encoded, MixingOptions } from "../data/batching.ts"
import { batchIndices, encodeDataset, makeBatch, mixingRates, mixtureIndices } from "../data/batching.ts"
import type { Dataset } from "../data/dataset.ts"
import type { Tokenizer } from "../data/tokenizer.ts"
import { CheckpointError } from "../errors.ts"
import { encodeSafetensors, writeFileAtomic } from "../graph/safetensors.ts"
import type { HostTensor } from "../graph/tensor.ts"
import type { T5Model } from "../t5/checkpoint.ts"
import { fingerprint, saveCheckpoint } from "../t5/checkpoint.ts"
import type { T5Runner } from "../t5/model.ts"
import { evaluatePrompt } from "./evaluate.ts"
import type { Params, Problem } from "./trainer.ts"

export interface DataSetup {
  readonly model: T5Model
  readonly tokenizer: Tokenizer
  /** One task, or several mixed. */
  readonly train: readonly Dataset[]
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
  readonly checkpointDir?: string
  /** Extra metadata for written files (task name, init, …). */
  readonly meta?: Readonly<Record<string, string>>
  /** Training-mode dropout at the model's `dropout_rate` (default: on, as in the paper and PEFT). */
  readonly dropout?: boolean
}

/** The dropout stream of micro-batch `chunk` of 0-based `step` (a pure function, so resumes match). */
export const dropoutSeed = (seed: number, step: number, chunk: number): number =>
  (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca77) ^ Math.imul(chunk + 1, 0xc2b2ae3d)) >>> 0

/** The batch source of a setup: step → encoded examples; plus how many were truncated. */
export const batchSource = (s: DataSetup) => {
  const encoded = s.train.map((d) => encodeDataset(d, s.tokenizer, { maxSource: s.maxSource, maxTarget: s.maxTarget }))
  const sizes = encoded.map((e) => e.items.length)
  const rates = mixingRates(sizes, s.mixing)
  const at = (step: number): Encoded[] =>
    encoded.length === 1
      ? batchIndices(sizes[0], s.batchSize, s.seed, step).map((i) => encoded[0].items[i])
      : mixtureIndices(sizes, rates, s.batchSize, s.seed, step).map(([t, i]) => encoded[t].items[i])
  return { at, truncated: encoded.reduce((a, e) => a + e.truncated, 0), rates }
}

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
export const promptProblem = (s: DataSetup, runner: T5Runner, init: HostTensor<"f32">) =>
  Effect.gen(function* () {
    const path = yield* Path.Path
    const src = batchSource(s)
    const micro = Math.max(1, Math.min(s.microBatch ?? s.batchSize, s.batchSize))
    const fp = fingerprint(s.model)
    const problem: Problem<
      import("../errors.ts").BackendError | import("../errors.ts").InputError | CheckpointError,
      FileSystem.FileSystem
    > = {
      init: new Map([["prompt", init]]),
      lossAndGrads: (params, step) =>
        accumulate(src.at(step), micro, (chunk, index) =>
          Effect.map(
            runner.run(
              params.get("prompt") as HostTensor<"f32">,
              makeBatch(chunk, micro, s.tokenizer.padId, 8, s.maxSource, s.maxTarget),
              ["loss", "promptGrad"],
              undefined,
              s.dropout === false ? undefined : dropoutSeed(s.seed, step, index),
            ),
            (r) => ({ loss: r.loss?.data[0] ?? Number.NaN, grads: new Map([["prompt", r.promptGrad as HostTensor<"f32">]]) }),
          ),
        ),
      evaluate: (params) =>
        evaluatePrompt(runner, s.tokenizer, params.get("prompt") as HostTensor<"f32">, s.valid, {
          batchSize: s.evalBatchSize ?? 32,
          maxSource: s.maxSource,
          maxTarget: s.maxTarget,
          ...(s.maxEvalExamples ? { maxExamples: s.maxEvalExamples } : {}),
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
    return { problem, truncated: src.truncated, rates: src.rates }
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
export const modelProblem = (s: DataSetup, runner: T5Runner) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const src = batchSource(s)
    const micro = Math.max(1, Math.min(s.microBatch ?? s.batchSize, s.batchSize))
    const empty: HostTensor<"f32"> = { dtype: "f32", shape: [0, s.model.config.dModel], data: new Float32Array(0) }
    const problem: Problem<
      import("../errors.ts").BackendError | import("../errors.ts").InputError | CheckpointError,
      FileSystem.FileSystem
    > = {
      init: s.model.weights,
      lossAndGrads: (params, step) =>
        accumulate(src.at(step), micro, (chunk, index) =>
          Effect.map(
            runner.run(
              empty,
              makeBatch(chunk, micro, s.tokenizer.padId, 8, s.maxSource, s.maxTarget),
              ["loss", "weightGrads"],
              params,
              s.dropout === false ? undefined : dropoutSeed(s.seed, step, index),
            ),
            (r) => ({ loss: r.loss?.data[0] ?? Number.NaN, grads: r.weightGrads ?? new Map() }),
          ),
        ),
      evaluate: (params) =>
        evaluatePrompt(runner, s.tokenizer, empty, s.valid, {
          batchSize: s.evalBatchSize ?? 32,
          maxSource: s.maxSource,
          maxTarget: s.maxTarget,
          weights: params,
          ...(s.maxEvalExamples ? { maxExamples: s.maxEvalExamples } : {}),
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
    return { problem, truncated: src.truncated, rates: src.rates }
  })
