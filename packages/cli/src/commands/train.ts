import { Optim, Recipe, T5Checkpoint, T5Runner, Trainer, Tuning } from "@spot/core"
import { Effect, FileSystem, Path } from "effect"
import { Command, Flag } from "effect/cli"
import { backendFlags, backendLayer } from "../backends.ts"
import { dataFlags, initialPrompt, loadModelAndTokenizer, loadTrainingSplits, modelFlags, streamFlags } from "../common.ts"
import { UsageError } from "../errors.ts"
import { printJson, printRecord } from "../output.ts"
import { progressLayer } from "../progress.ts"
import { checkInts, checkNumbers, checkOutDir, checkOutFile, tuningIntChecks } from "../validate.ts"

export const trainFlags = {
  ...modelFlags,
  ...dataFlags,
  ...streamFlags,
  train: Flag.String("train").pipe(
    Flag.withDescription(
      "JSONL/CSV/TSV/Parquet training file or Hub split org/dataset[@rev][/config]:split; several comma-separated form a mixture",
    ),
  ),
  valid: Flag.String("valid").pipe(Flag.withDescription("validation file or Hub split")),
  task: Flag.String("task").pipe(
    Flag.withDefault(""),
    Flag.withDescription("read the files with a ready-made definition (glue/rte, superglue/cb, …) instead of {input, target}"),
  ),
  taskless: Flag.Boolean("taskless").pipe(
    Flag.withDefault(false),
    Flag.withDescription("with --task: the prompt-tuning code's taskless variant (no task-name word in the input)"),
  ),
  steps: Flag.Int("steps").pipe(Flag.withDefault(1000)),
  seed: Flag.Int("seed").pipe(Flag.withDefault(0)),
  batch: Flag.Int("batch").pipe(Flag.withDefault(32)),
  microBatch: Flag.Int("micro-batch").pipe(
    Flag.withDefault(0),
    Flag.withDescription("rows per backend call (gradient accumulation); 0: the whole batch"),
  ),
  evalEvery: Flag.Int("eval-every").pipe(Flag.withDefault(100)),
  maxSource: Flag.Int("max-source").pipe(Flag.withDefault(512)),
  maxTarget: Flag.Int("max-target").pipe(Flag.withDefault(32)),
  mixingCap: Flag.Int("mixing-cap").pipe(
    Flag.withDefault(0),
    Flag.withDescription("examples-proportional mixing cap K (0: none)"),
  ),
  temperature: Flag.Finite("temperature").pipe(Flag.withDefault(1)),
  maxEval: Flag.Int("max-eval").pipe(
    Flag.withDefault(0),
    Flag.withDescription("evaluate on at most this many validation examples (0: all)"),
  ),
  clip: Flag.Finite("clip").pipe(Flag.withDefault(0), Flag.withDescription("global-norm gradient clipping (0: none)")),
  checkpointDir: Flag.String("checkpoint-dir").pipe(
    Flag.withDescription("holds best, last, early checkpoints and the resume state"),
  ),
  resume: Flag.Boolean("resume").pipe(Flag.withDefault(false)),
  evalMethod: Flag.Literals("eval-method", ["auto", "rank", "decode"] as const).pipe(
    Flag.withDefault("auto" as const),
    Flag.withDescription("validation by rank classification or by decoding (T5's scoring); auto: rank for classification tasks"),
  ),
  ...backendFlags,
  json: Flag.Boolean("json").pipe(Flag.withDefault(false)),
}

/** The training flags both `train` and `tune-model` take, checked before any work. */
export const checkTrainFlags = (f: {
  steps: number
  batch: number
  microBatch: number
  evalEvery: number
  maxSource: number
  maxTarget: number
  mixingCap: number
  temperature: number
  maxEval: number
  clip: number
  train: string
  valid: string
}) =>
  Effect.gen(function* () {
    yield* checkInts([
      ...tuningIntChecks(f),
      ["--micro-batch", f.microBatch, 0, 65_536],
      ["--mixing-cap", f.mixingCap, 0, 1_000_000_000],
      ["--max-eval", f.maxEval, 0, 1_000_000_000],
    ])
    yield* checkNumbers([
      ["--temperature", f.temperature, 0, true],
      ["--clip", f.clip, 0, false],
    ])
    if (f.train.split(",").every((x) => x === "")) return yield* new UsageError({ field: "--train", message: "is empty" })
    if (f.valid === "") return yield* new UsageError({ field: "--valid", message: "is empty" })
  })

/** The data side of a training run, from the flags both `train` and `tune-model` take. */
export const dataSetup = (
  f: {
    batch: number
    microBatch: number
    maxSource: number
    maxTarget: number
    mixingCap: number
    temperature: number
    seed: number
    maxEval: number
    checkpointDir: string
    evalMethod?: "auto" | "rank" | "decode"
  },
  model: import("@spot/core").T5Model,
  tokenizer: import("@spot/core").Tokenizer,
  trainSets: readonly import("@spot/core").TrainSet[],
  valid: import("@spot/core").Dataset,
): Tuning.DataSetup => ({
  model,
  tokenizer,
  train: trainSets,
  valid,
  batchSize: f.batch,
  ...(f.microBatch > 0 ? { microBatch: f.microBatch } : {}),
  maxSource: f.maxSource,
  maxTarget: f.maxTarget,
  mixing: { ...(f.mixingCap > 0 ? { cap: f.mixingCap } : {}), temperature: f.temperature },
  seed: f.seed,
  ...(f.maxEval > 0 ? { maxEvalExamples: f.maxEval } : {}),
  ...(f.evalMethod && f.evalMethod !== "auto" ? { evalMethod: f.evalMethod } : {}),
  checkpointDir: f.checkpointDir,
})

/**
 * The recipe of the run's early checkpoint, when it is one that `spot transfer` and the study can
 * recompute: `--init vocab` (the paper's early-checkpoint recipe) or `random` (uniform-init), an
 * Adafactor, a constant lr and no micro-batching. Otherwise none is recorded.
 */
const earlyRecipe = (f: {
  embeddingStep: number
  init: string
  optimizer: "adafactor" | "adafactor-hf" | "adam"
  schedule: string
  lr: number
  batch: number
  microBatch: number
}): Recipe.EmbeddingRecipe | undefined => {
  if (!(f.embeddingStep > 0) || f.schedule !== "constant" || (f.microBatch > 0 && f.microBatch < f.batch)) return undefined
  if (f.optimizer !== "adafactor" && f.optimizer !== "adafactor-hf") return undefined
  if (f.init !== "vocab" && f.init !== "random") return undefined
  const base = { steps: f.embeddingStep, lr: f.lr, batch: f.batch }
  const r = f.init === "vocab" ? Recipe.earlyCheckpoint(base) : Recipe.uniformInit(base)
  return { ...r, optimizer: f.optimizer }
}

export const train = Command.make(
  "train",
  {
    ...trainFlags,
    out: Flag.String("out").pipe(Flag.withDescription("where the best prompt is written (safetensors, key `prompt`)")),
    init: Flag.String("init").pipe(
      Flag.withDefault("vocab"),
      Flag.withDescription("random | vocab | labels | text:<words> | text-repeat:<words> | <prompt.safetensors>"),
    ),
    promptLength: Flag.Int("prompt-length").pipe(Flag.withDefault(100)),
    optimizer: Flag.Literals("optimizer", ["adafactor", "adafactor-hf", "adam"] as const).pipe(
      Flag.withDefault("adafactor" as const),
      Flag.withDescription("adafactor: t5x's, as the official prompt-tuning configs; adafactor-hf: transformers' variant"),
    ),
    lr: Flag.Finite("lr").pipe(Flag.withDefault(0.3)),
    schedule: Flag.Literals("schedule", Optim.SCHEDULES).pipe(
      Flag.withDefault("constant" as const),
      Flag.withDescription(
        "learning-rate schedule: constant (the paper's), or linear warmup then constant, linear decay, cosine, inverse square root",
      ),
    ),
    warmup: Flag.Int("warmup").pipe(Flag.withDefault(0), Flag.withDescription("warmup steps of the schedule")),
    embeddingStep: Flag.Int("embedding-step").pipe(
      Flag.withDefault(0),
      Flag.withDescription("save the early checkpoint (task embedding) at this step"),
    ),
  },
  (f) =>
    Effect.gen(function* () {
      yield* checkTrainFlags(f)
      yield* checkInts([
        ["--prompt-length", f.promptLength, 1, 100_000],
        ["--embedding-step", f.embeddingStep, 0, f.steps],
      ])
      yield* checkNumbers([["--lr", f.lr, 0, true]])
      yield* checkOutFile("--out", f.out, [...f.train.split(","), f.valid, f.init])
      yield* checkOutDir("--checkpoint-dir", f.checkpointDir)
      const t0 = performance.now()
      const path = yield* Path.Path
      const fs = yield* FileSystem.FileSystem
      const { model, tokenizer } = yield* loadModelAndTokenizer(f.model, f.tokenizer)
      const { train: trainSets, valid } = yield* loadTrainingSplits(f.train, f.valid, f.task, f)
      const init = yield* initialPrompt(f.init, model, tokenizer, f.promptLength, f.seed, trainSets[0].candidates ?? [])
      const runner = yield* T5Runner.makeRunner(model)
      const recipe = earlyRecipe(f)
      const setup = {
        ...dataSetup(f, model, tokenizer, trainSets, valid),
        meta: { init: f.init, ...(recipe ? { [Recipe.PROVENANCE_KEY]: Recipe.encodeRecipe(recipe) } : {}) },
      }
      const { problem, truncated, indexed } = yield* Tuning.promptProblem(setup, runner, init)
      // keyed on content (model, examples, initial prompt, options), not on file or folder names
      const runKey = Trainer.runKeyFor({
        model: T5Checkpoint.fingerprint(model),
        data: [...trainSets, valid],
        init: problem.init,
        options: {
          ...f,
          model: undefined,
          tokenizer: undefined,
          train: undefined,
          valid: undefined,
          stream: undefined,
          init: f.init.startsWith("text:") || ["random", "vocab", "labels"].includes(f.init) ? f.init : "file",
          checkpointDir: undefined,
          resume: undefined,
          json: undefined,
          out: undefined,
          backend: undefined,
          provider: undefined,
          threads: undefined,
        },
      })
      const result = yield* Trainer.train(problem, {
        steps: f.steps,
        evalEvery: f.evalEvery,
        ...(f.embeddingStep > 0 ? { embeddingStep: f.embeddingStep } : {}),
        seed: f.seed,
        optimizer:
          f.optimizer === "adafactor" ? Optim.adafactor() : f.optimizer === "adafactor-hf" ? Optim.adafactorHF() : Optim.adam(),
        schedule: Optim.scheduleOf(f.schedule, f.lr, f.warmup, f.steps),
        clipNorm: f.clip,
        checkpointDir: f.checkpointDir,
        resume: f.resume,
        runKey,
      })
      // --out receives the best checkpoint
      const best = path.join(f.checkpointDir, "best.safetensors")
      yield* fs.copyFile(best, `${f.out}.tmp`).pipe(Effect.flatMap(() => fs.rename(`${f.out}.tmp`, f.out)))
      const res = {
        out: f.out,
        best_step: result.best.step,
        best_score: result.best.score,
        final_loss: result.history[result.history.length - 1]?.loss,
        steps: f.steps,
        resumed_from: result.resumedFrom,
        // an indexed file's examples are tokenized as batches draw them: the count is of those drawn
        truncated_examples: truncated(),
        ...(indexed ? { streamed: true } : {}),
        seconds: (performance.now() - t0) / 1000,
      }
      yield* f.json ? printJson(res) : printRecord("trained a prompt", res)
    }).pipe(Effect.provide(backendLayer(f)), Effect.provide(progressLayer(f.json))),
).pipe(Command.withDescription("Prompt-tune a frozen T5 on a task or a mixture."))
