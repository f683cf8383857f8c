/** Loading what the training commands share: model, tokenizer, datasets, prompt files. */
import {
  Benchmarks,
  Data,
  DataReaders,
  type Dataset,
  IndexedData,
  Init,
  InputError,
  Safetensors,
  type T5Model,
  T5Presets,
  type TaskDef,
  type Tokenizer,
  TokenizerDiscovery,
  type TrainSet,
} from "@spot/core"
import { Effect, FileSystem, Result } from "effect"
import { Flag } from "effect/cli"
import { UsageError } from "./errors.ts"
import { datasetFiles } from "./hub.ts"
import { resolveModel } from "./model.ts"

export const modelFlags = {
  model: Flag.String("model").pipe(
    Flag.withDescription(
      "checkpoint folder, Hugging Face id org/name[@revision] (local cache, else downloaded), or random:<preset> (t5-small, t5-v1_1-small, t5-v1_1-base, t5-v1_1-large)",
    ),
  ),
  tokenizer: Flag.String("tokenizer").pipe(
    Flag.withDefault(""),
    Flag.withDescription(
      "tokenizer.json, spiece.model, a folder, or byte; default: the model folder's tokenizer.json, else spiece.model (byte for byte models)",
    ),
  ),
}

/** The model and its tokenizer (`--tokenizer`, else discovered in the model folder), checked to fit each other. */
export const loadModelAndTokenizer = (model: string, tokenizer: string) =>
  Effect.gen(function* () {
    // a random preset's vocabulary is known before its weights are drawn: check the tokenizer first
    const preset = model.startsWith("random:") ? T5Presets.PRESETS[model.slice(7)] : undefined
    if (preset && tokenizer !== "") {
      const early = yield* TokenizerDiscovery.discoverTokenizer(model, undefined, tokenizer)
      yield* Effect.fromResult(TokenizerDiscovery.checkTokenizerFits(early.tokenizer, early.source, preset.vocabSize, model))
    }
    const { model: m, dir } = yield* resolveModel(model)
    const found = yield* TokenizerDiscovery.discoverTokenizer(model, dir, tokenizer)
    yield* Effect.fromResult(TokenizerDiscovery.checkTokenizerFits(found.tokenizer, found.source, m.config.vocabSize, model))
    return { model: m as T5Model, tokenizer: found.tokenizer as Tokenizer, tokenizerSource: found.source }
  })

/** Column mapping and text budgets of the data flags. */
export interface DataOptions {
  /** Input column or template (`"premise: {premise} hypothesis: {hypothesis}"`). */
  readonly inputColumn?: string
  /** Target column or template. */
  readonly targetColumn?: string
  readonly maxSource?: number
  readonly maxTarget?: number
  /** Presets: the prompt-tuning code's "taskless" variant (no task-name word). */
  readonly taskless?: boolean
}

export const dataFlags = {
  inputColumn: Flag.String("input-column").pipe(
    Flag.withDefault("input"),
    Flag.withDescription('the input column, or a template such as "premise: {premise} hypothesis: {hypothesis}"'),
  ),
  targetColumn: Flag.String("target-column").pipe(
    Flag.withDefault("target"),
    Flag.withDescription("the target column (or a template)"),
  ),
}

const budgetOf = (o: DataOptions): Data.TextBudget => ({
  ...(o.maxSource ? { input: o.maxSource * Data.UNITS_PER_TOKEN } : {}),
  ...(o.maxTarget ? { target: o.maxTarget * Data.UNITS_PER_TOKEN } : {}),
})

/** A file, or a Hub dataset split `org/name[@rev][/config]:split`, read with `task`. */
export const loadData = (spec: string, task: TaskDef, o: DataOptions = {}) =>
  Effect.gen(function* () {
    const files = (yield* datasetFiles(spec)) ?? [spec]
    const ds = yield* Data.loadDataset(files, task, budgetOf(o))
    return { ...ds, file: spec }
  })

/** The column task of a data file or Hub split (named after the file). */
const plainTaskOf = (file: string, name: string | undefined, o: DataOptions) =>
  Data.columnTask(
    name ??
      file
        .replace(/^.*\//, "")
        .replace(/\.[^.]+$/, "")
        .replace(/[:@]/g, "-"),
    o.inputColumn ?? "input",
    o.targetColumn ?? "target",
  )

/** A data file (JSONL/CSV/TSV/Parquet) or Hub split mapped by columns; few distinct targets make it a classification task. */
export const loadPlain = (file: string, name?: string, o: DataOptions = {}) =>
  Effect.map(loadData(file, plainTaskOf(file, name, o), o), (ds) => Data.inferClassification(ds))

/** `--stream`: whether a JSONL training file is read a batch at a time (`IndexedData`) or loaded. */
export type StreamMode = "auto" | "on" | "off"

/** `--stream auto` reads JSONL training files of at least this many bytes a batch at a time. */
export const STREAM_MIN_BYTES = 64 * 1024 * 1024

export const streamFlags = {
  stream: Flag.Literals("stream", ["auto", "on", "off"] as const).pipe(
    Flag.withDefault("auto" as const),
    Flag.withDescription(
      "read a JSONL training file a batch at a time by record offsets instead of loading it (auto: files of 64 MiB or more); CSV, TSV, Parquet and --task presets are loaded",
    ),
  ),
}

/**
 * A plain training set: a single JSONL file read a batch at a time (`IndexedData`) when `stream`
 * says so, else loaded like `loadPlain`. `--stream on` for a file that cannot be (CSV, TSV, Parquet,
 * several shards) is an `InputError` naming it.
 */
export const loadPlainTrain = (spec: string, o: DataOptions, stream: StreamMode) =>
  Effect.gen(function* () {
    if (stream === "off") return (yield* loadPlain(spec, undefined, o)) as TrainSet
    const files = (yield* datasetFiles(spec)) ?? [spec]
    if (files.length !== 1 || DataReaders.formatOf(files[0]) !== "jsonl") {
      if (stream === "on") {
        return yield* new InputError({
          field: "--stream",
          message: `${spec}: only a single JSONL file is read a batch at a time; CSV, TSV and Parquet are loaded (--stream auto)`,
        })
      }
      return yield* loadPlain(spec, undefined, o)
    }
    if (stream === "auto") {
      const fs = yield* FileSystem.FileSystem
      const size = yield* fs.stat(files[0]).pipe(
        Effect.map((i) => Number(i.size)),
        Effect.orElseSucceed(() => 0),
      )
      if (size < STREAM_MIN_BYTES) return yield* loadPlain(spec, undefined, o)
    }
    const ds = yield* IndexedData.indexJsonl(files[0], plainTaskOf(spec, undefined, o), budgetOf(o))
    return IndexedData.inferClassification(ds) as TrainSet
  })

/** A ready-made task definition: `glue/rte`, `superglue/cb`, … (T5's format; `Benchmarks.taskPreset`). */
export const taskDefinition = (spec: string, options: Benchmarks.PresetOptions = {}) =>
  Effect.fromResult(Benchmarks.taskPreset(spec, options))

/** `taskDefinition` of a `--task` flag: an unknown name is a usage error (exit 2), as any bad flag value. */
export const taskFlag = (spec: string, options: Benchmarks.PresetOptions = {}) =>
  taskDefinition(spec, options).pipe(
    Effect.mapError((e) => (e.message.startsWith("unknown task ") ? new UsageError({ field: "--task", message: e.message }) : e)),
  )

/**
 * Train files (comma-separated: a mixture) and a validation file sharing the first one's classes;
 * with `task` (e.g. `glue/rte`), every file is read with that ready-made definition (train files in
 * T5's training variant, the validation file in its evaluation variant).
 */
export const loadSplits = (trainFiles: string, validFile: string, task = "", o: DataOptions = {}) =>
  splitsWith(trainFiles, validFile, task, o, (f) => loadPlain(f, undefined, o))

/** `loadSplits` for training: plain JSONL training files read a batch at a time as `--stream` says. */
export const loadTrainingSplits = (
  trainFiles: string,
  validFile: string,
  task: string,
  o: DataOptions & { readonly stream: StreamMode },
) =>
  Effect.gen(function* () {
    if (task !== "" && o.stream === "on") {
      return yield* new InputError({ field: "--stream", message: "--task presets are loaded, not read a batch at a time" })
    }
    return yield* splitsWith(trainFiles, validFile, task, o, (f) => loadPlainTrain(f, o, o.stream))
  })

const splitsWith = <T extends TrainSet, E, R>(
  trainFiles: string,
  validFile: string,
  task: string,
  o: DataOptions,
  plain: (file: string) => Effect.Effect<T, E, R>,
) =>
  Effect.gen(function* () {
    if (task !== "") {
      const trainDef = yield* taskFlag(task, { taskless: o.taskless ?? false, split: "train" })
      const validDef = yield* taskFlag(task, { taskless: o.taskless ?? false, split: "eval" })
      const train: Array<T | Dataset> = []
      for (const f of trainFiles.split(",").filter((x) => x !== "")) train.push(yield* loadData(f, trainDef, o))
      if (train.length === 0) return yield* new InputError({ field: "--train", message: "no training file" })
      return { train, valid: yield* loadData(validFile, validDef, o) }
    }
    const train: Array<T | Dataset> = []
    for (const f of trainFiles.split(",").filter((s) => s !== "")) train.push(yield* plain(f))
    if (train.length === 0) return yield* new InputError({ field: "--train", message: "no training file" })
    const validRaw = yield* loadData(
      validFile,
      Data.columnTask(train[0].task.name, o.inputColumn ?? "input", o.targetColumn ?? "target"),
      o,
    )
    const valid = yield* Effect.fromResult(
      train.length === 1 ? Data.withClassesOf(validRaw, train[0]) : Result.succeed(Data.inferClassification(validRaw)),
    )
    return { train, valid }
  })

/** A prompt file: safetensors with `prompt` (ours) or `prompt_embeddings` (PEFT, first L rows = encoder). */
export const loadPromptFile = (file: string, dModel: number) =>
  Effect.gen(function* () {
    const st = yield* Safetensors.readSafetensors(file)
    const t = st.tensors.get("prompt") ?? st.tensors.get("prompt_embeddings")
    if (!t) return yield* new InputError({ field: file, message: "no tensor named prompt (or prompt_embeddings)" })
    const p = yield* Effect.fromResult(Init.checkPrompt(t, dModel, file))
    return { prompt: p, metadata: st.metadata }
  })

/** `--init`: random | vocab | labels | text:<words> (fills the first rows) | text-repeat:<words> (PEFT) | <prompt file>. */
export const initialPrompt = (spec: string, model: T5Model, tok: Tokenizer, L: number, seed: number, labels: readonly string[]) =>
  Effect.gen(function* () {
    const d = model.config.dModel
    if (spec === "random") return Init.randomUniform(L, d, seed)
    if (spec === "vocab") return Init.fromVocab(model, tok, L, seed)
    if (spec === "labels") return Init.fromLabels(model, tok, L, labels, seed)
    if (spec.startsWith("text:")) return yield* Effect.fromResult(Init.fromText(model, tok, L, spec.slice(5), { seed }))
    if (spec.startsWith("text-repeat:"))
      return yield* Effect.fromResult(Init.fromText(model, tok, L, spec.slice(12), { fill: "repeat" }))
    return (yield* loadPromptFile(spec, d)).prompt
  })
