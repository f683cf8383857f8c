/**
 * Tokenizers: Hugging Face `tokenizer.json` (through `@huggingface/tokenizers`), SentencePiece
 * `spiece.model` (its protobuf read into the same Unigram model), and the ByT5 byte tokenizer.
 * `encode` appends EOS as T5's post-processor does.
 */
import { Tokenizer as HFTokenizer } from "@huggingface/tokenizers"
import { Effect, FileSystem, Result } from "effect"
import { InputError } from "../errors.ts"
import { toTokenizerJson } from "./sentencepiece.ts"

export interface Tokenizer {
  readonly kind: "byte" | "hf"
  readonly vocabSize: number
  readonly padId: number
  readonly eosId: number
  readonly unkId: number
  /** Ids of `text`, EOS appended. */
  readonly encode: (text: string) => number[]
  /** Text of `ids`, special tokens skipped. */
  readonly decode: (ids: readonly number[]) => string
  /** Ids that are special tokens (excluded from vocabulary-sampled prompt init). */
  readonly specialIds: ReadonlySet<number>
}

/** ByT5: id = byte + 3; pad 0, eos 1, unk 2. Vocabulary 259 (+ sentinels where a model has them). */
export const byteTokenizer: Tokenizer = {
  kind: "byte",
  vocabSize: 259,
  padId: 0,
  eosId: 1,
  unkId: 2,
  encode: (text) => [...new TextEncoder().encode(text)].map((b) => b + 3).concat(1),
  decode: (ids) => new TextDecoder().decode(Uint8Array.from(ids.filter((i) => i >= 3 && i < 259).map((i) => i - 3))),
  specialIds: new Set([0, 1, 2]),
}

/** The structure of a parsed `tokenizer.json` checked before it is used; undefined when it is fine. */
export const checkTokenizerJson = (json: unknown): { field: string; message: string } | undefined => {
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x)
  if (!isObj(json)) return { field: "(file)", message: "is not a JSON object" }
  if (!isObj(json.model)) return { field: "model", message: "is missing or not an object" }
  const vocab = json.model.vocab
  if (Array.isArray(vocab)) {
    const i = vocab.findIndex((v) => !Array.isArray(v) || typeof v[0] !== "string" || typeof v[1] !== "number")
    if (i >= 0) return { field: `model.vocab[${i}]`, message: "must be a [piece, score] pair" }
  } else if (isObj(vocab)) {
    const bad = Object.entries(vocab).find(([, id]) => typeof id !== "number" || !Number.isSafeInteger(id) || id < 0)
    if (bad) return { field: `model.vocab.${bad[0]}`, message: "must map to a non-negative integer id" }
  } else return { field: "model.vocab", message: `must be a list or an object, got ${vocab === null ? "null" : typeof vocab}` }
  const added = json.added_tokens ?? []
  if (!Array.isArray(added)) return { field: "added_tokens", message: "must be a list" }
  const j = added.findIndex(
    (t) => !isObj(t) || typeof t.id !== "number" || !Number.isSafeInteger(t.id) || t.id < 0 || t.id > 1 << 24,
  )
  if (j >= 0) return { field: `added_tokens[${j}]`, message: "must be an object with a non-negative integer id" }
  return undefined
}

/** A tokenizer from a parsed `tokenizer.json` (and optional `tokenizer_config.json`). */
export const fromTokenizerJson = (
  json: unknown,
  config: unknown = {},
  file = "tokenizer.json",
): Result.Result<Tokenizer, InputError> => {
  const shape = checkTokenizerJson(json)
  if (shape !== undefined) return Result.fail(new InputError({ field: `${file}: ${shape.field}`, message: shape.message }))
  let tok: HFTokenizer
  try {
    tok = new HFTokenizer(json as never, config as never)
  } catch (e) {
    return Result.fail(new InputError({ field: file, message: `cannot build a tokenizer: ${(e as Error).message}` }))
  }
  const j = json as { model?: { vocab?: unknown[] | Record<string, number> }; added_tokens?: { id: number; special?: boolean }[] }
  const vocab = j.model?.vocab
  const vocabSize = Array.isArray(vocab) ? vocab.length : vocab ? Object.keys(vocab).length : 0
  const special = new Set((j.added_tokens ?? []).filter((t) => t.special).map((t) => t.id))
  const idOf = (t: string, dflt: number) => {
    const ids = tok.encode(t, { add_special_tokens: false } as never).ids
    return ids.length === 1 ? ids[0] : dflt
  }
  // T5 ends every sequence with `</s>`: a tokenizer without it is another model family's (BERT's
  // [SEP], GPT-2's <|endoftext|>), whose ids would silently mean other tokens to a T5
  const hasEos =
    (j.added_tokens ?? []).some((t) => (t as { content?: unknown }).content === "</s>") ||
    (Array.isArray(vocab) ? vocab.some((p) => Array.isArray(p) && p[0] === "</s>") : vocab !== undefined && "</s>" in vocab)
  const eos = tok.encode("</s>", { add_special_tokens: false } as never).ids
  if (!hasEos || eos.length !== 1)
    return Result.fail(
      new InputError({
        field: `${file}: </s>`,
        message: "has no </s> end-of-sequence token: not a T5 tokenizer (one of another model family?)",
      }),
    )
  const eosId = eos[0]
  return Result.succeed({
    kind: "hf",
    vocabSize: Math.max(vocabSize, ...[...special].map((s) => s + 1)),
    padId: idOf("<pad>", 0),
    eosId,
    unkId: idOf("<unk>", 2),
    encode: (text) => {
      const ids = [...tok.encode(text).ids]
      return ids[ids.length - 1] === eosId ? ids : [...ids, eosId]
    },
    decode: (ids) => tok.decode([...ids], { skip_special_tokens: true } as never),
    specialIds: special,
  })
}

/** A tokenizer from the bytes of a SentencePiece `spiece.model` (Unigram models); `file` names it in errors. */
export const fromSentencePiece = (bytes: Uint8Array, file = "spiece.model"): Result.Result<Tokenizer, InputError> =>
  Result.flatMap(toTokenizerJson(bytes, file), ({ json, config }) => fromTokenizerJson(json, config, file))

/** `byte`, a `tokenizer.json` path (its `tokenizer_config.json` beside it is read when present), or a `spiece.model`. */
export const loadTokenizer = (spec: string) =>
  Effect.gen(function* () {
    if (spec === "byte") return byteTokenizer
    const fs = yield* FileSystem.FileSystem
    if (spec.endsWith(".model")) {
      const bytes = yield* fs.readFile(spec).pipe(Effect.mapError((e) => new InputError({ field: spec, message: e.message })))
      return yield* Effect.fromResult(fromSentencePiece(bytes, spec))
    }
    const read = (file: string) =>
      fs.readFileString(file).pipe(
        Effect.mapError((e) => new InputError({ field: file, message: e.message })),
        Effect.flatMap((text) =>
          Effect.try({
            try: () => JSON.parse(text) as unknown,
            catch: (e) => new InputError({ field: file, message: `not JSON: ${(e as Error).message}` }),
          }),
        ),
      )
    const json = yield* read(spec)
    const cfgPath = spec.replace(/tokenizer\.json$/, "tokenizer_config.json")
    const config =
      cfgPath !== spec && (yield* fs.exists(cfgPath).pipe(Effect.orElseSucceed(() => false))) ? yield* read(cfgPath) : {}
    return yield* Effect.fromResult(fromTokenizerJson(json, config, spec))
  })
