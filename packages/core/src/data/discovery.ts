/**
 * Which tokenizer a model uses: `--tokenizer` when given (`byte`, a `tokenizer.json`, a
 * `spiece.model`, or a folder holding one); else the model folder's `tokenizer.json`, else its
 * `spiece.model`; the byte tokenizer only for byte models (`"spot_tokenizer": "byte"` in
 * `config.json`, or a ByT5 `tokenizer_config.json`). A tokenizer that does not fit the model is a
 * typed `TokenizerMismatch` naming both, never a silent fallback.
 */
import { Effect, FileSystem, Path, Result } from "effect"
import { TokenizerMismatch } from "../errors.ts"
import { byteTokenizer, loadTokenizer, type Tokenizer } from "./tokenizer.ts"

/** Largest vocabulary of a byte-level model (ByT5: 256 bytes + 3 specials + 125 extra ids). */
export const BYTE_MODEL_MAX_VOCAB = 384

const readJsonOr = (fs: FileSystem.FileSystem, file: string) =>
  fs.readFileString(file).pipe(
    Effect.flatMap((text) => Effect.try(() => JSON.parse(text) as unknown)),
    Effect.orElseSucceed(() => undefined as unknown),
  )

/** Does the model folder declare a byte-level model? */
export const isByteModel = (dir: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const config = (yield* readJsonOr(fs, path.join(dir, "config.json"))) as { spot_tokenizer?: unknown } | undefined
    if (config?.spot_tokenizer === "byte") return true
    const tc = (yield* readJsonOr(fs, path.join(dir, "tokenizer_config.json"))) as { tokenizer_class?: unknown } | undefined
    return tc?.tokenizer_class === "ByT5Tokenizer"
  })

/** The tokenizer file in a folder: `tokenizer.json`, else `spiece.model`; none when neither exists. */
export const tokenizerFileIn = (dir: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    for (const name of ["tokenizer.json", "spiece.model"]) {
      const f = path.join(dir, name)
      if (yield* fs.exists(f).pipe(Effect.orElseSucceed(() => false))) return f
    }
    return undefined
  })

/**
 * Finds and loads the tokenizer for a model. `modelDir` is the checkpoint folder (none for a random
 * preset); `override` is `--tokenizer` ("" when not given). Returns the tokenizer and where it came from.
 */
export const discoverTokenizer = (modelName: string, modelDir: string | undefined, override: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    if (override === "byte") return { tokenizer: byteTokenizer, source: "byte" }
    if (override !== "") {
      const info = yield* fs.stat(override).pipe(Effect.option)
      if (info._tag === "Some" && info.value.type === "Directory") {
        const f = yield* tokenizerFileIn(override)
        if (f === undefined) {
          return yield* new TokenizerMismatch({
            tokenizer: override,
            model: modelName,
            message: `no tokenizer.json or spiece.model in ${override}`,
          })
        }
        return { tokenizer: yield* loadTokenizer(f), source: f }
      }
      return { tokenizer: yield* loadTokenizer(override), source: override }
    }
    if (modelDir === undefined) {
      return yield* new TokenizerMismatch({
        tokenizer: "(none)",
        model: modelName,
        message: `${modelName} has no tokenizer files; pass --tokenizer (a tokenizer.json, a spiece.model, or byte)`,
      })
    }
    const f = yield* tokenizerFileIn(modelDir)
    if (f !== undefined) return { tokenizer: yield* loadTokenizer(f), source: f }
    if (yield* isByteModel(modelDir)) return { tokenizer: byteTokenizer, source: "byte" }
    return yield* new TokenizerMismatch({
      tokenizer: "(none)",
      model: modelName,
      message: `no tokenizer.json or spiece.model in ${modelDir}, and its config does not declare a byte model; pass --tokenizer`,
    })
  })

/** Checks that a tokenizer fits a model of `modelVocab` ids. */
export const checkTokenizerFits = (
  tok: Tokenizer,
  tokName: string,
  modelVocab: number,
  modelName: string,
): Result.Result<void, TokenizerMismatch> => {
  if (tok.vocabSize > modelVocab) {
    return Result.fail(
      new TokenizerMismatch({
        tokenizer: tokName,
        model: modelName,
        message: `tokenizer ${tokName} has ${tok.vocabSize} ids but model ${modelName} has a vocabulary of ${modelVocab}`,
      }),
    )
  }
  if (tok.kind === "byte" && modelVocab > BYTE_MODEL_MAX_VOCAB) {
    return Result.fail(
      new TokenizerMismatch({
        tokenizer: tokName,
        model: modelName,
        message: `the byte tokenizer does not fit model ${modelName} (a ${modelVocab}-id vocabulary, not a byte model); use its tokenizer.json or spiece.model`,
      }),
    )
  }
  return Result.void
}
