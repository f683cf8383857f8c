/**
 * Tokenized examples → padded batches. Lengths are rounded up to shape buckets (multiples of
 * `bucket`) so that a backend compiles only a few graphs; over-long examples are truncated (the count
 * is reported) and keep their EOS. Batch order is a pure function of (seed, step), so a resumed run
 * sees exactly the batches an uninterrupted one would; `trainBatches` serves them from sets in memory
 * or from indexed files read a batch at a time.
 */
import { Effect, type FileSystem } from "effect"
import type { DataError } from "../errors.ts"
import { keyOf, uniformAt } from "../graph/random.ts"
import type { HostTensor } from "../graph/tensor.ts"
import type { T5Batch } from "../t5/runner.ts"
import type { Dataset, Example } from "./dataset.ts"
import { isIndexed, readExamples } from "./indexed.ts"
import type { Tokenizer } from "./tokenizer.ts"
import type { IndexedDataset, TrainSet } from "./types.ts"

export interface Encoded {
  readonly src: readonly number[]
  readonly tgt: readonly number[]
  readonly label?: number
}

export interface EncodeOptions {
  readonly maxSource: number
  readonly maxTarget: number
}

const clip = (ids: number[], max: number, eos: number): { ids: number[]; cut: boolean } =>
  ids.length <= max ? { ids, cut: false } : { ids: [...ids.slice(0, max - 1), eos], cut: true }

/** One example's ids (EOS kept when cut) and whether it was cut. */
export const encodeExample = (e: Example, tok: Tokenizer, o: EncodeOptions): { item: Encoded; cut: boolean } => {
  const s = clip(tok.encode(e.input), o.maxSource, tok.eosId)
  const t = clip(tok.encode(e.target), o.maxTarget, tok.eosId)
  return { item: { src: s.ids, tgt: t.ids, ...(e.label !== undefined ? { label: e.label } : {}) }, cut: s.cut || t.cut }
}

export const encodeDataset = (ds: Dataset, tok: Tokenizer, o: EncodeOptions): { items: Encoded[]; truncated: number } => {
  let truncated = 0
  const items = ds.examples.map((e) => {
    const r = encodeExample(e, tok, o)
    if (r.cut) truncated++
    return r.item
  })
  return { items, truncated }
}

/** Sequence lengths of a batch are rounded up to a multiple of this, so a backend compiles few shapes. */
export const LENGTH_BUCKET = 8

export const bucketLength = (n: number, bucket: number, max: number) =>
  Math.min(max, Math.max(bucket, Math.ceil(n / bucket) * bucket))

export interface HostBatch extends T5Batch {
  readonly inputIds: HostTensor<"i32">
  readonly attentionMask: HostTensor<"f32">
  readonly labels: HostTensor<"i32">
}

export interface BatchOptions {
  /** Rows of the batch; rows beyond the items are padding with no loss. */
  readonly rows: number
  readonly padId: number
  /** Lengths are rounded up to a multiple of this (default `LENGTH_BUCKET`). */
  readonly bucket?: number
  /** Caps on the bucketed lengths (default: none). */
  readonly maxSource?: number
  readonly maxTarget?: number
}

/**
 * Pads `items` to a batch of `rows` rows (extra rows are padding with no loss) and bucketed lengths.
 */
export const makeBatch = (
  items: readonly Encoded[],
  { rows, padId, bucket = LENGTH_BUCKET, maxSource = 1 << 20, maxTarget = 1 << 20 }: BatchOptions,
): HostBatch => {
  const S = bucketLength(Math.max(1, ...items.map((i) => i.src.length)), bucket, maxSource)
  const T = bucketLength(Math.max(1, ...items.map((i) => i.tgt.length)), bucket, maxTarget)
  const ids = new Int32Array(rows * S).fill(padId)
  const mask = new Float32Array(rows * S)
  const labels = new Int32Array(rows * T).fill(-100)
  items.forEach((it, r) => {
    it.src.forEach((v, j) => {
      ids[r * S + j] = v
      mask[r * S + j] = 1
    })
    it.tgt.forEach((v, j) => {
      labels[r * T + j] = v
    })
  })
  for (let r = items.length; r < rows; r++) mask[r * S] = 1 // padding rows attend to one token, carry no loss
  const inputIds: HostTensor<"i32"> = { dtype: "i32", shape: [rows, S], data: ids }
  const attentionMask: HostTensor<"f32"> = { dtype: "f32", shape: [rows, S], data: mask }
  return { inputIds, attentionMask, labels: { dtype: "i32", shape: [rows, T], data: labels } }
}

/** Seeded permutation of 0..n-1 (Fisher-Yates over counter-based uniforms), 4 bytes an entry. */
const permutationArray = (n: number, seed: number, key: number): Uint32Array<ArrayBuffer> => {
  const p = new Uint32Array(n)
  for (let i = 0; i < n; i++) p[i] = i
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(uniformAt(seed, key, i) * (i + 1))
    const tmp = p[i]
    p[i] = p[j]
    p[j] = tmp
  }
  return p
}

/** Seeded permutation of 0..n-1 (Fisher-Yates over counter-based uniforms). */
export const permutation = (n: number, seed: number, key: number): number[] => Array.from(permutationArray(n, seed, key))

/**
 * `batchIndices` of a fixed (n, batchSize, seed) for any step, keeping the permutation of the last
 * epoch it used: a large dataset's permutation is drawn once an epoch, not once a step. Its answers
 * are `batchIndices`'s, whatever the order of the steps asked.
 */
export const batchSampler = (n: number, batchSize: number, seed: number) => {
  let cachedEpoch = -1
  let perm = new Uint32Array(0)
  return (step: number): number[] => {
    const out: number[] = []
    for (let i = 0; i < batchSize; i++) {
      const k = step * batchSize + i
      const epoch = Math.floor(k / n)
      if (epoch !== cachedEpoch) {
        perm = permutationArray(n, seed, keyOf(`epoch:${epoch}`))
        cachedEpoch = epoch
      }
      out.push(perm[k % n])
    }
    return out
  }
}

/** Example indices of 0-based `step` for a dataset of `n` examples: epochs of seeded permutations. */
export const batchIndices = (n: number, batchSize: number, seed: number, step: number): number[] =>
  batchSampler(n, batchSize, seed)(step)

export interface MixingOptions {
  /** Examples-proportional mixing cap K (T5): a task counts as min(size, K). Default: no cap. */
  readonly cap?: number
  /** Temperature T: rates ∝ rate^(1/T). Default 1. */
  readonly temperature?: number
}

/** Mixing rates of tasks of the given sizes; they sum to 1. */
export const mixingRates = (sizes: readonly number[], o: MixingOptions = {}): number[] => {
  const capped = sizes.map((n) => Math.min(n, o.cap ?? Number.POSITIVE_INFINITY))
  const total = capped.reduce((a, b) => a + b, 0)
  const t = o.temperature ?? 1
  const tempered = capped.map((c) => (c / total) ** (1 / t))
  const z = tempered.reduce((a, b) => a + b, 0)
  return tempered.map((r) => r / z)
}

/** (task, example) pairs for 0-based `step` of a mixture: tasks drawn by rate, examples uniformly. */
export const mixtureIndices = (
  sizes: readonly number[],
  rates: readonly number[],
  batchSize: number,
  seed: number,
  step: number,
) => {
  const out: Array<readonly [number, number]> = []
  const kTask = keyOf("mixture:task")
  const kEx = keyOf("mixture:example")
  for (let i = 0; i < batchSize; i++) {
    const c = step * batchSize + i
    const u = uniformAt(seed, kTask, c)
    let task = 0
    let acc = rates[0]
    while (u >= acc && task < rates.length - 1) acc += rates[++task]
    out.push([task, Math.floor(uniformAt(seed, kEx, c) * sizes[task])])
  }
  return out
}

export interface SourceOptions extends EncodeOptions {
  readonly batchSize: number
  readonly seed: number
  /** Mixing of several training sets (examples-proportional, capped, tempered). */
  readonly mixing?: MixingOptions
}

type Part =
  | { readonly kind: "memory"; readonly items: readonly Encoded[] }
  | { readonly kind: "indexed"; readonly set: IndexedDataset; readonly cut: Uint8Array }

/**
 * The batches of training: step → encoded examples, a pure function of (seed, step). Sets in
 * memory are tokenized once, up front; indexed files (`IndexedData`) are read, rendered and tokenized
 * a batch at a time, so their memory is their offsets. `truncated()` counts the examples cut to the
 * maximum lengths: all of those in memory, and of an indexed set those its batches have drawn so far.
 */
export const trainBatches = (sets: readonly TrainSet[], tok: Tokenizer, o: SourceOptions) => {
  const enc = { maxSource: o.maxSource, maxTarget: o.maxTarget }
  let truncated = 0
  const parts: Part[] = sets.map((d) => {
    if (isIndexed(d)) return { kind: "indexed", set: d, cut: new Uint8Array(Math.ceil(d.size / 8)) }
    const e = encodeDataset(d, tok, enc)
    truncated += e.truncated
    return { kind: "memory", items: e.items }
  })
  const sizes = parts.map((p) => (p.kind === "memory" ? p.items.length : p.set.size))
  const rates = mixingRates(sizes, o.mixing)
  const sample = batchSampler(sizes[0], o.batchSize, o.seed)
  const fetch = (p: Part, indices: readonly number[]): Effect.Effect<Encoded[], DataError, FileSystem.FileSystem> => {
    if (p.kind === "memory") return Effect.succeed(indices.map((i) => p.items[i]))
    return Effect.map(readExamples(p.set, indices), (examples) =>
      examples.map((e, k) => {
        const r = encodeExample(e, tok, enc)
        const i = indices[k]
        if (r.cut && (p.cut[i >> 3] & (1 << (i & 7))) === 0) {
          p.cut[i >> 3] |= 1 << (i & 7)
          truncated++
        }
        return r.item
      }),
    )
  }
  const at = (step: number): Effect.Effect<Encoded[], DataError, FileSystem.FileSystem> => {
    if (parts.length === 1) return fetch(parts[0], sample(step))
    const pairs = mixtureIndices(sizes, rates, o.batchSize, o.seed, step)
    return Effect.gen(function* () {
      const out: Encoded[] = new Array(pairs.length)
      for (let t = 0; t < parts.length; t++) {
        const rows = pairs.flatMap(([task], row) => (task === t ? [row] : []))
        if (rows.length === 0) continue
        const items = yield* fetch(
          parts[t],
          rows.map((row) => pairs[row][1]),
        )
        rows.forEach((row, k) => {
          out[row] = items[k]
        })
      }
      return out
    })
  }
  return { at, rates, truncated: () => truncated, indexed: parts.some((p) => p.kind === "indexed") }
}
