/** Loading what the training commands share: model, tokenizer, datasets, prompt files. */
import {
  Benchmarks,
  Data,
  type Dataset,
  Init,
  InputError,
  Safetensors,
  type T5Model,
  type Tokenizer,
  Tokenizers,
} from "@spot/core"
import { Effect, Result } from "effect"
import { Flag } from "effect/cli"
import { loadModel } from "./model.ts"

export const modelFlags = {
  model: Flag.String("model").pipe(
    Flag.withDescription("checkpoint folder or random:<preset> (t5-small, t5-v1_1-small, t5-v1_1-base)"),
  ),
  tokenizer: Flag.String("tokenizer").pipe(Flag.withDefault("byte"), Flag.withDescription("tokenizer.json, or byte (ByT5)")),
}

export const loadModelAndTokenizer = (model: string, tokenizer: string) =>
  Effect.gen(function* () {
    const m = yield* loadModel(model)
    const tok = yield* Tokenizers.loadTokenizer(tokenizer)
    if (tok.vocabSize > m.config.vocabSize) {
      return yield* new InputError({
        field: "tokenizer",
        message: `${tokenizer} has ${tok.vocabSize} ids but the model's vocabulary has ${m.config.vocabSize}`,
      })
    }
    return { model: m as T5Model, tokenizer: tok as Tokenizer }
  })

/** A JSONL/CSV/TSV file of `{input, target}` records; few distinct targets make it a classification task. */
export const loadPlain = (file: string, name?: string) =>
  Effect.map(Data.loadDataset(file, Data.plainTask(name ?? file.replace(/^.*\//, "").replace(/\.[^.]+$/, ""))), (ds) =>
    Data.inferClassification(ds),
  )

/** A ready-made task definition: `glue/rte`, `superglue/cb`, … (T5's format; `Benchmarks.taskPreset`). */
export const taskDefinition = (spec: string, options: Benchmarks.PresetOptions = {}) =>
  Effect.fromResult(Benchmarks.taskPreset(spec, options))

/**
 * Train files (comma-separated: a mixture) and a validation file sharing the first one's classes;
 * with `task` (e.g. `glue/rte`), every file is read with that ready-made definition (train files in
 * T5's training variant, the validation file in its evaluation variant).
 */
export const loadSplits = (trainFiles: string, validFile: string, task = "", options: { readonly taskless?: boolean } = {}) =>
  Effect.gen(function* () {
    if (task !== "") {
      const trainDef = yield* taskDefinition(task, { ...options, split: "train" })
      const validDef = yield* taskDefinition(task, { ...options, split: "eval" })
      const train: Dataset[] = []
      for (const f of trainFiles.split(",").filter((x) => x !== "")) train.push(yield* Data.loadDataset(f, trainDef))
      if (train.length === 0) return yield* new InputError({ field: "--train", message: "no training file" })
      return { train, valid: yield* Data.loadDataset(validFile, validDef) }
    }
    const train: Dataset[] = []
    for (const f of trainFiles.split(",").filter((s) => s !== "")) train.push(yield* loadPlain(f))
    if (train.length === 0) return yield* new InputError({ field: "--train", message: "no training file" })
    const validRaw = yield* Data.loadDataset(validFile, Data.plainTask(train[0].task.name))
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
