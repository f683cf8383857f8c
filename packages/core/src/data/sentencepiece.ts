/**
 * SentencePiece `spiece.model` files (many T5 checkpoints ship only this): the protobuf is read with
 * a small wire-format decoder and turned into the same Unigram tokenizer `transformers` builds from
 * it (precompiled normaliser when present, repeated-space rule, Metaspace, `</s>` appended).
 */
import { Result } from "effect"
import { InputError } from "../errors.ts"

interface Field {
  readonly no: number
  readonly wire: number
  readonly value: number | Uint8Array
}

/** Top-level fields of a protobuf message (varint, fixed64, length-delimited, fixed32). */
const fields = (b: Uint8Array): Field[] | undefined => {
  const out: Field[] = []
  let i = 0
  const varint = (): number | undefined => {
    let x = 0
    let mul = 1
    for (let k = 0; k < 10; k++) {
      if (i >= b.length) return undefined
      const byte = b[i++]
      x += (byte & 0x7f) * mul
      if ((byte & 0x80) === 0) return x
      mul *= 128
    }
    return undefined
  }
  while (i < b.length) {
    const key = varint()
    if (key === undefined) return undefined
    const no = Math.floor(key / 8)
    const wire = key & 7
    if (wire === 0) {
      const v = varint()
      if (v === undefined) return undefined
      out.push({ no, wire, value: v })
    } else if (wire === 1) {
      if (i + 8 > b.length) return undefined
      out.push({ no, wire, value: b.subarray(i, i + 8) })
      i += 8
    } else if (wire === 2) {
      const n = varint()
      if (n === undefined || i + n > b.length) return undefined
      out.push({ no, wire, value: b.subarray(i, i + n) })
      i += n
    } else if (wire === 5) {
      if (i + 4 > b.length) return undefined
      out.push({ no, wire, value: b.subarray(i, i + 4) })
      i += 4
    } else return undefined
  }
  return out
}

const f32 = (v: Uint8Array) => new DataView(v.buffer, v.byteOffset, 4).getFloat32(0, true)
const text = (v: Uint8Array) => new TextDecoder().decode(v)
const b64 = (v: Uint8Array) => {
  let s = ""
  for (const x of v) s += String.fromCharCode(x)
  return btoa(s)
}

/** Piece types of sentencepiece_model.proto. */
const NORMAL = 1
const UNKNOWN = 2
const CONTROL = 3

/** The `tokenizer.json` (and `tokenizer_config.json`) equivalent to the bytes of a `spiece.model` (Unigram models). */
export interface TokenizerJson {
  readonly json: unknown
  readonly config: unknown
}

/**
 * Converts a `spiece.model` into the `tokenizer.json` `transformers` would build from it;
 * `Tokenizers.fromSentencePiece` turns that into a tokenizer.
 */
export const toTokenizerJson = (bytes: Uint8Array, file = "spiece.model"): Result.Result<TokenizerJson, InputError> => {
  const fail = (message: string) => Result.fail(new InputError({ field: file, message }))
  const top = fields(bytes)
  if (!top) return fail("not a SentencePiece model (the protobuf does not parse)")
  const vocab: Array<[string, number]> = []
  const special: Array<{ id: number; content: string }> = []
  let unk = -1
  for (const f of top.filter((x) => x.no === 1 && x.wire === 2)) {
    const p = fields(f.value as Uint8Array)
    if (!p) return fail(`piece ${vocab.length} does not parse`)
    const piece = p.find((x) => x.no === 1 && x.wire === 2)
    const score = p.find((x) => x.no === 2 && x.wire === 5)
    const type = (p.find((x) => x.no === 3 && x.wire === 0)?.value as number | undefined) ?? NORMAL
    if (!piece) return fail(`piece ${vocab.length} has no text`)
    const content = text(piece.value as Uint8Array)
    if (type === UNKNOWN) unk = vocab.length
    if (type === CONTROL || type === UNKNOWN) special.push({ id: vocab.length, content })
    vocab.push([content, score ? f32(score.value as Uint8Array) : 0])
  }
  if (vocab.length === 0) return fail("the model has no pieces")
  const trainer = top.find((x) => x.no === 2 && x.wire === 2)
  const modelType = trainer
    ? (fields(trainer.value as Uint8Array)?.find((x) => x.no === 3 && x.wire === 0)?.value as number | undefined)
    : undefined
  if (modelType !== undefined && modelType !== 1)
    return fail(`model_type ${modelType} is not Unigram (1); only Unigram models are read`)
  const norm = top.find((x) => x.no === 3 && x.wire === 2)
  const charsmap = norm
    ? (fields(norm.value as Uint8Array)?.find((x) => x.no === 2 && x.wire === 2)?.value as Uint8Array | undefined)
    : undefined
  const eos = vocab.findIndex(([p]) => p === "</s>")
  const json = {
    version: "1.0",
    added_tokens: special.map((s) => ({
      id: s.id,
      content: s.content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: "Sequence",
      normalizers: [
        ...(charsmap && charsmap.length > 0 ? [{ type: "Precompiled", precompiled_charsmap: b64(charsmap) }] : []),
        { type: "Replace", pattern: { Regex: " {2,}" }, content: " " },
      ],
    },
    pre_tokenizer: { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true },
    post_processor:
      eos >= 0
        ? {
            type: "TemplateProcessing",
            single: [{ Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "</s>", type_id: 0 } }],
            pair: [
              { Sequence: { id: "A", type_id: 0 } },
              { SpecialToken: { id: "</s>", type_id: 0 } },
              { Sequence: { id: "B", type_id: 0 } },
              { SpecialToken: { id: "</s>", type_id: 0 } },
            ],
            special_tokens: { "</s>": { id: "</s>", ids: [eos], tokens: ["</s>"] } },
          }
        : null,
    decoder: { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true },
    model: { type: "Unigram", unk_id: unk >= 0 ? unk : null, vocab, byte_fallback: false },
  }
  return Result.succeed({ json, config: { eos_token: "</s>", pad_token: "<pad>", unk_token: "<unk>" } })
}
