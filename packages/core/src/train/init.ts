/**
 * Prompt initialisations: random uniform [-0.5, 0.5], sampled vocabulary embeddings (as the official
 * prompt-tuning code's `from_sample_of_embeddings`: without replacement from the first 5,000 ids —
 * SentencePiece vocabularies are ordered by frequency; byte vocabularies use every id), class-label
 * embeddings, text embeddings (the text fills the first rows, the rest is sampled; PEFT's
 * repeat-to-fill as an option), another prompt (transfer) and a weighted average.
 */
import { Result } from "effect"
import type { Tokenizer } from "../data/tokenizer.ts"
import { InputError } from "../errors.ts"
import { keyOf, uniform, uniformAt } from "../graph/random.ts"
import type { HostTensor } from "../graph/tensor.ts"
import { showShape } from "../graph/tensor.ts"
import type { T5Model } from "../t5/checkpoint.ts"

const row = (emb: HostTensor<"f32">, id: number) => emb.data.subarray(id * emb.shape[1], (id + 1) * emb.shape[1])

export const randomUniform = (L: number, d: number, seed: number): HostTensor<"f32"> => ({
  dtype: "f32",
  shape: [L, d],
  data: uniform(seed, keyOf("init:uniform"), L * d, -0.5, 0.5),
})

/** The population of the official vocabulary-sampled init: ids 0 … min(vocab, 5000) − 1 (byte vocabularies: all 259). */
export const populationSize = (tok: Tokenizer, vocabSize: number, top = 5000): number =>
  tok.kind === "byte" ? Math.min(vocabSize, 259) : Math.min(vocabSize, top)

/**
 * `L` ids drawn without replacement from 0 … n − 1 (a partial Fisher–Yates shuffle driven by the
 * counter-based stream of `seed`); when L > n, each further block of n rows is a fresh permutation.
 */
export const sampleWithoutReplacement = (n: number, L: number, seed: number): number[] => {
  const out: number[] = []
  for (let block = 0; out.length < L; block++) {
    const ids = Array.from({ length: n }, (_, i) => i)
    const take = Math.min(n, L - out.length)
    for (let i = 0; i < take; i++) {
      const j = i + Math.floor(uniformAt(seed, keyOf(`init:vocab-perm:${block}`), i) * (n - i))
      const t = ids[i]
      ids[i] = ids[j]
      ids[j] = t
      out.push(ids[i])
    }
  }
  return out
}

/** Ids the earlier with-replacement init drew from (special ids excluded). */
export const sampleableIds = (tok: Tokenizer, vocabSize: number, top = 5000): number[] => {
  const limit = tok.kind === "byte" ? Math.min(vocabSize, 259) : Math.min(vocabSize, top)
  const out: number[] = []
  for (let i = 0; i < limit; i++) if (!tok.specialIds.has(i) && i !== tok.padId && i !== tok.eosId && i !== tok.unkId) out.push(i)
  return out
}

/** Vocabulary-sampled init as the official code: `L` distinct rows of the first 5,000 (see `sampleWithoutReplacement`). */
export const fromVocab = (model: T5Model, tok: Tokenizer, L: number, seed: number): HostTensor<"f32"> => {
  const emb = model.weights.get("shared.weight") as HostTensor<"f32">
  const d = model.config.dModel
  const ids = sampleWithoutReplacement(populationSize(tok, model.config.vocabSize), L, seed)
  const out = new Float32Array(L * d)
  for (let i = 0; i < L; i++) out.set(row(emb, ids[i]), i * d)
  return { dtype: "f32", shape: [L, d], data: out }
}

/** The earlier vocabulary init: with replacement, special ids excluded (kept so that the demo reproduces its table). */
export const fromVocabWithReplacement = (model: T5Model, tok: Tokenizer, L: number, seed: number): HostTensor<"f32"> => {
  const emb = model.weights.get("shared.weight") as HostTensor<"f32">
  const d = model.config.dModel
  const ids = sampleableIds(tok, model.config.vocabSize)
  const out = new Float32Array(L * d)
  for (let i = 0; i < L; i++) out.set(row(emb, ids[Math.floor(uniformAt(seed, keyOf("init:vocab"), i) * ids.length)]), i * d)
  return { dtype: "f32", shape: [L, d], data: out }
}

/** Rows 0..C-1: mean embedding of each class label's tokens; the rest sampled from the vocabulary. */
export const fromLabels = (
  model: T5Model,
  tok: Tokenizer,
  L: number,
  labels: readonly string[],
  seed: number,
): HostTensor<"f32"> => {
  const base = fromVocab(model, tok, L, seed)
  const emb = model.weights.get("shared.weight") as HostTensor<"f32">
  const d = model.config.dModel
  labels.slice(0, L).forEach((label, i) => {
    const ids = tok.encode(label).filter((t) => t !== tok.eosId)
    const acc = new Float32Array(d)
    for (const id of ids) {
      const r = row(emb, id)
      for (let j = 0; j < d; j++) acc[j] += r[j] / ids.length
    }
    base.data.set(acc, i * d)
  })
  return base
}

/**
 * Embeddings of `text`'s tokens. `fill: "sample"` (default, as the official `from_embedded_string`):
 * the tokens fill the first rows and the rest is vocabulary-sampled at `seed`; a text longer than
 * the prompt is an error. `fill: "repeat"` (PEFT's `TEXT` init): the tokens repeat to fill L rows,
 * truncated when longer.
 */
export const fromText = (
  model: T5Model,
  tok: Tokenizer,
  L: number,
  text: string,
  o: { readonly fill?: "sample" | "repeat"; readonly seed?: number } = {},
): Result.Result<HostTensor<"f32">, InputError> => {
  const ids = tok.encode(text).filter((t) => t !== tok.eosId)
  if (ids.length === 0) return Result.fail(new InputError({ field: "init text", message: "the text has no tokens" }))
  const emb = model.weights.get("shared.weight") as HostTensor<"f32">
  const d = model.config.dModel
  if (o.fill === "repeat") {
    const out = new Float32Array(L * d)
    for (let i = 0; i < L; i++) out.set(row(emb, ids[i % ids.length]), i * d)
    return Result.succeed({ dtype: "f32", shape: [L, d], data: out })
  }
  if (ids.length > L)
    return Result.fail(
      new InputError({ field: "init text", message: `the text has ${ids.length} tokens, more than the prompt's ${L} rows` }),
    )
  const out = fromVocab(model, tok, L, o.seed ?? 0)
  for (let i = 0; i < ids.length; i++) out.data.set(row(emb, ids[i]), i * d)
  return Result.succeed(out)
}

/** Checks that a prompt fits a model (width) and the requested length. */
export const checkPrompt = (
  p: HostTensor,
  dModel: number,
  field: string,
  L?: number,
): Result.Result<HostTensor<"f32">, InputError> => {
  if (p.dtype !== "f32" || p.shape.length !== 2 || p.shape[1] !== dModel || (L !== undefined && p.shape[0] !== L))
    return Result.fail(
      new InputError({ field, message: `prompt ${p.dtype} ${showShape(p.shape)} does not fit [${L ?? "L"}, ${dModel}]` }),
    )
  if (p.shape[0] === 0) return Result.fail(new InputError({ field, message: "prompt has 0 rows (prompt length 0)" }))
  const data = p.data as Float32Array
  const bad = firstNonFinite(data)
  if (bad >= 0)
    return Result.fail(
      new InputError({
        field,
        message: `prompt has a non-finite value (${data[bad]}) at flat index ${bad} (row ${Math.floor(bad / dModel)})`,
      }),
    )
  return Result.succeed(p as HostTensor<"f32">)
}

/** Index of the first NaN/±Infinity, or -1. */
export const firstNonFinite = (d: ArrayLike<number>): number => {
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return i
  return -1
}

/** Σ w_i p_i / Σ w_i over prompts of one shape. */
export const weightedAverage = (
  prompts: readonly HostTensor<"f32">[],
  weights: readonly number[],
): Result.Result<HostTensor<"f32">, InputError> => {
  if (prompts.length === 0 || prompts.length !== weights.length) {
    return Result.fail(new InputError({ field: "prompts", message: "need as many weights as prompts, and at least one" }))
  }
  const z = weights.reduce((a, b) => a + b, 0)
  if (!(z > 0) || weights.some((w) => !(w >= 0)))
    return Result.fail(new InputError({ field: "weights", message: "weights must be non-negative with a positive sum" }))
  const [L, d] = prompts[0].shape
  if (prompts.some((p) => p.shape[0] !== L || p.shape[1] !== d))
    return Result.fail(new InputError({ field: "prompts", message: "prompts differ in shape" }))
  const out = new Float32Array(L * d)
  prompts.forEach((p, k) => {
    const w = weights[k] / z
    for (let i = 0; i < out.length; i++) out[i] += w * p.data[i]
  })
  return Result.succeed({ dtype: "f32", shape: [L, d], data: out })
}
