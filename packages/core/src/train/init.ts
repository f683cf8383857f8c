/**
 * Prompt initialisations: random uniform [-0.5, 0.5], sampled vocabulary embeddings (the 5,000 most
 * frequent tokens; SentencePiece vocabularies are ordered by frequency, byte vocabularies use every
 * byte), class-label embeddings, text embeddings, another prompt (transfer) and a weighted average.
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

/** Ids a vocabulary-sampled init draws from. */
export const sampleableIds = (tok: Tokenizer, vocabSize: number, top = 5000): number[] => {
  const limit = tok.kind === "byte" ? Math.min(vocabSize, 259) : Math.min(vocabSize, top)
  const out: number[] = []
  for (let i = 0; i < limit; i++) if (!tok.specialIds.has(i) && i !== tok.padId && i !== tok.eosId && i !== tok.unkId) out.push(i)
  return out
}

export const fromVocab = (model: T5Model, tok: Tokenizer, L: number, seed: number): HostTensor<"f32"> => {
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

/** Embeddings of `text`'s tokens, repeated to fill L rows. */
export const fromText = (
  model: T5Model,
  tok: Tokenizer,
  L: number,
  text: string,
): Result.Result<HostTensor<"f32">, InputError> => {
  const ids = tok.encode(text).filter((t) => t !== tok.eosId)
  if (ids.length === 0) return Result.fail(new InputError({ field: "init text", message: "the text has no tokens" }))
  const emb = model.weights.get("shared.weight") as HostTensor<"f32">
  const d = model.config.dModel
  const out = new Float32Array(L * d)
  for (let i = 0; i < L; i++) out.set(row(emb, ids[i % ids.length]), i * d)
  return Result.succeed({ dtype: "f32", shape: [L, d], data: out })
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
