/**
 * Similarity of task embeddings (prompts [L, d]) as values of one type that users can extend.
 * Each metric has a *summary* (a vector computed once per prompt, what the retrieval index stores),
 * a fast `score` over summaries, and the `naive` definition the property tests compare it with.
 *
 * - cosine of average tokens:  cos(mean_i e_i, mean_j e'_j). Summary: the unit-normalised mean; score: dot.
 * - per-token average cosine: (1/(L·L')) Σ_i Σ_j cos(e_i, e'_j) = (Σ_i ê_i)·(Σ_j ê'_j) / (L·L'),
 *   ê the unit-normalised tokens. Summary: the mean of unit tokens; score: dot.
 *
 * A zero vector has cosine 0 with everything (never NaN).
 */
import type { HostTensor } from "../graph/tensor.ts"

export interface Similarity {
  readonly name: string
  /** Vector of length d summarising a prompt [L, d]. */
  readonly summary: (p: HostTensor<"f32">) => Float32Array
  /** Similarity from two summaries. */
  readonly score: (a: Float32Array, b: Float32Array) => number
  /** The definition, straight from the paper (slow). */
  readonly naive: (a: HostTensor<"f32">, b: HostTensor<"f32">) => number
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>, ao = 0, bo = 0, n = a.length) => {
  let s = 0
  for (let i = 0; i < n; i++) s += a[ao + i] * b[bo + i]
  return s
}
const norm = (a: ArrayLike<number>, o = 0, n = a.length) => Math.sqrt(dot(a, a, o, o, n))
const cos = (a: ArrayLike<number>, b: ArrayLike<number>, ao = 0, bo = 0, n = a.length) => {
  const na = norm(a, ao, n)
  const nb = norm(b, bo, n)
  return na === 0 || nb === 0 ? 0 : dot(a, b, ao, bo, n) / (na * nb)
}
const clamp = (x: number) => Math.max(-1, Math.min(1, x))

export const meanToken = (p: HostTensor<"f32">): Float64Array => {
  const [L, d] = p.shape
  const m = new Float64Array(d)
  for (let i = 0; i < L; i++) for (let j = 0; j < d; j++) m[j] += p.data[i * d + j] / L
  return m
}

export const cosineOfAverage: Similarity = {
  name: "cosine-of-average",
  summary: (p) => {
    const m = meanToken(p)
    const n = norm(m)
    return Float32Array.from(m, (v) => (n === 0 ? 0 : v / n))
  },
  score: (a, b) => clamp(dot(a, b)),
  naive: (a, b) => cos(meanToken(a), meanToken(b)),
}

export const perTokenAverageCosine: Similarity = {
  name: "per-token-average-cosine",
  summary: (p) => {
    const [L, d] = p.shape
    const m = new Float64Array(d)
    for (let i = 0; i < L; i++) {
      const n = norm(p.data, i * d, d)
      if (n === 0) continue
      for (let j = 0; j < d; j++) m[j] += p.data[i * d + j] / n / L
    }
    return Float32Array.from(m)
  },
  score: (a, b) => clamp(dot(a, b)),
  naive: (a, b) => {
    const [La, d] = a.shape
    const [Lb] = b.shape
    let s = 0
    for (let i = 0; i < La; i++) for (let j = 0; j < Lb; j++) s += cos(a.data, b.data, i * d, j * d, d)
    return s / (La * Lb)
  },
}

export const SIMILARITIES: readonly Similarity[] = [cosineOfAverage, perTokenAverageCosine]

export const similarityNamed = (name: string): Similarity | undefined => SIMILARITIES.find((s) => s.name === name)
