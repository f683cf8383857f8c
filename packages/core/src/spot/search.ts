/**
 * Retrieval at scale: a compact index of per-candidate summary vectors, kept apart from the prompt
 * tensors, so that a query never reads prompts. Rows are candidates (entry, seed); for each metric the
 * index holds the summary the fast similarity form needs (unit mean token; mean unit token). Scores
 * for every candidate are one matrix-vector product, run on the Backend (memory-bandwidth bound on
 * ONNX Runtime), then a top-k selection.
 */
import { Effect, FileSystem, Result } from "effect"
import { LibraryError } from "../errors.ts"
import type { Session } from "../graph/backend.ts"
import { Backend } from "../graph/backend.ts"
import * as ir from "../graph/ir.ts"
import { decodeSafetensors, encodeSafetensors, MAX_HEADER_BYTES } from "../graph/safetensors.ts"
import type { HostTensor } from "../graph/tensor.ts"
import { fingerprintMatches } from "../t5/checkpoint.ts"
import type { CandidateRef } from "./retrieval.ts"
import { cosineOfAverage, perTokenAverageCosine } from "./similarity.ts"

export const INDEX_METRICS = [cosineOfAverage, perTokenAverageCosine] as const
export type IndexMetric = (typeof INDEX_METRICS)[number]["name"]

export interface IndexRow extends CandidateRef {
  readonly fingerprint: string
  readonly promptLength: number
}

export interface RetrievalIndex {
  readonly dModel: number
  readonly rows: readonly IndexRow[]
  /** metric name → [N, d] summaries. */
  readonly vectors: ReadonlyMap<string, HostTensor<"f32">>
}

/** Builds an index from (row, task embedding) pairs of one width. */
export const buildIndex = (dModel: number, items: Iterable<{ row: IndexRow; embedding: HostTensor<"f32"> }>): RetrievalIndex => {
  const rows: IndexRow[] = []
  const parts = new Map<string, Float32Array[]>(INDEX_METRICS.map((m) => [m.name, []]))
  for (const { row, embedding } of items) {
    rows.push(row)
    for (const m of INDEX_METRICS) parts.get(m.name)?.push(m.summary(embedding))
  }
  const vectors = new Map<string, HostTensor<"f32">>()
  for (const m of INDEX_METRICS) {
    const data = new Float32Array(rows.length * dModel)
    parts.get(m.name)?.forEach((v, i) => {
      data.set(v, i * dModel)
    })
    vectors.set(m.name, { dtype: "f32", shape: [rows.length, dModel], data })
  }
  return { dModel, rows, vectors }
}

export const encodeIndex = (ix: RetrievalIndex): Uint8Array =>
  encodeSafetensors(ix.vectors, { format: "spot-index/1", d_model: String(ix.dModel), rows: JSON.stringify(ix.rows) })

export const decodeIndex = (bytes: Uint8Array, file: string): Result.Result<RetrievalIndex, LibraryError> => {
  const bad = (message: string) => new LibraryError({ library: file, entry: "(index)", message })
  const st = decodeSafetensors(bytes, file)
  if (Result.isFailure(st)) return Result.fail(bad(st.failure.message))
  const { metadata, tensors } = st.success
  if (metadata.format !== "spot-index/1") return Result.fail(bad(`not a retrieval index (format ${metadata.format})`))
  const dModel = Number(metadata.d_model)
  if (!Number.isSafeInteger(dModel) || dModel < 0)
    return Result.fail(bad(`d_model ${metadata.d_model} is not a non-negative integer`))
  let rows: IndexRow[]
  try {
    rows = JSON.parse(metadata.rows ?? "[]") as IndexRow[]
  } catch {
    return Result.fail(bad("rows metadata is not JSON"))
  }
  if (!Array.isArray(rows)) return Result.fail(bad("rows metadata is not a list"))
  for (const [i, r] of rows.entries()) {
    const o = r as unknown as Record<string, unknown> | null
    if (
      typeof o !== "object" ||
      o === null ||
      typeof o.entry !== "string" ||
      typeof o.task !== "string" ||
      typeof o.seed !== "number" ||
      typeof o.fingerprint !== "string" ||
      typeof o.promptLength !== "number"
    )
      return Result.fail(bad(`rows[${i}] is not {entry, task, seed, fingerprint, promptLength}`))
  }
  for (const m of INDEX_METRICS) {
    const t = tensors.get(m.name)
    if (t?.dtype !== "f32" || t.shape[0] !== rows.length || t.shape[1] !== dModel)
      return Result.fail(bad(`missing or mis-shaped ${m.name} vectors`))
  }
  return Result.succeed({ dModel, rows, vectors: tensors as Map<string, HostTensor<"f32">> })
}

/** The k largest of `scores` (ties by row order), descending. */
export const topKIndices = (scores: Float32Array, k: number, allowed?: (i: number) => boolean): number[] => {
  const heap: number[] = [] // min-heap by score on indices
  const less = (a: number, b: number) => scores[a] < scores[b] || (scores[a] === scores[b] && a > b)
  const up = (i: number) => {
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(heap[i], heap[p])) break
      ;[heap[i], heap[p]] = [heap[p], heap[i]]
      i = p
    }
  }
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < heap.length && less(heap[l], heap[m])) m = l
      if (r < heap.length && less(heap[r], heap[m])) m = r
      if (m === i) return
      ;[heap[i], heap[m]] = [heap[m], heap[i]]
      i = m
    }
  }
  for (let i = 0; i < scores.length; i++) {
    if (allowed && !allowed(i)) continue
    if (heap.length < k) {
      heap.push(i)
      up(heap.length - 1)
    } else if (less(heap[0], i)) {
      heap[0] = i
      down(0)
    }
  }
  return heap.sort((a, b) => (less(a, b) ? 1 : less(b, a) ? -1 : 0))
}

/** What a searcher scans: rows, and each metric's summary matrix, loaded when first needed. */
export interface IndexSource {
  readonly dModel: number
  readonly rows: readonly IndexRow[]
  readonly load: (metric: string) => Effect.Effect<HostTensor<"f32">, LibraryError>
}

export const inMemory = (ix: RetrievalIndex): IndexSource => ({
  dModel: ix.dModel,
  rows: ix.rows,
  load: (metric) => {
    const t = ix.vectors.get(metric)
    return t
      ? Effect.succeed(t)
      : Effect.fail(new LibraryError({ library: "(index)", entry: "", message: `unknown metric ${metric}` }))
  },
})

/**
 * Opens an index file reading only its header; each metric's matrix is read (one contiguous range,
 * straight into an aligned buffer) the first time a query needs it. A cold open of a 100,000-entry
 * index therefore reads half of the file.
 */
export const openIndexFile = (file: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const bad = (message: string) => new LibraryError({ library: file, entry: "(index)", message })
    const readAt = (position: number, length: number) =>
      Effect.scoped(
        Effect.gen(function* () {
          const f = yield* fs.open(file, { flag: "r" })
          const buf = new Uint8Array(length)
          let done = 0
          while (done < length) {
            const n = yield* f.read(buf.subarray(done), { position: BigInt(position + done) })
            if (n === 0) break
            done += n
          }
          return done === length ? buf : yield* Effect.fail(bad(`file ends before byte ${position + length}`))
        }),
      ).pipe(Effect.mapError((e) => (e instanceof LibraryError ? e : bad(e.message))))
    const size = Number((yield* fs.stat(file).pipe(Effect.mapError((e) => bad(e.message)))).size)
    const head = yield* readAt(0, 8)
    const n = Number(new DataView(head.buffer).getBigUint64(0, true))
    if (n > MAX_HEADER_BYTES || 8 + n > size) return yield* bad("header length out of range")
    const headerBytes = yield* readAt(8, n)
    const header = yield* Effect.try({
      try: () =>
        JSON.parse(new TextDecoder().decode(headerBytes)) as Record<
          string,
          { dtype: string; shape: number[]; data_offsets: [number, number] }
        > & { __metadata__?: Record<string, string> },
      catch: () => bad("header is not JSON"),
    })
    const meta = header.__metadata__ ?? {}
    if (meta.format !== "spot-index/1") return yield* bad(`not a retrieval index (format ${meta.format})`)
    const dModel = Number(meta.d_model)
    const rows = yield* Effect.try({
      try: () => JSON.parse(meta.rows ?? "[]") as IndexRow[],
      catch: () => bad("rows metadata is not JSON"),
    })
    for (const m of INDEX_METRICS) {
      const e = header[m.name]
      if (e?.dtype !== "F32" || e.shape[0] !== rows.length || e.shape[1] !== dModel)
        return yield* bad(`missing or mis-shaped ${m.name} vectors`)
      if (e.data_offsets[1] - e.data_offsets[0] !== rows.length * dModel * 4 || 8 + n + e.data_offsets[1] > size)
        return yield* bad(`${m.name}: byte range out of the file`)
    }
    const cache = new Map<string, HostTensor<"f32">>()
    const source: IndexSource = {
      dModel,
      rows,
      load: (metric) =>
        Effect.gen(function* () {
          const hit = cache.get(metric)
          if (hit) return hit
          const e = header[metric]
          if (!e || metric === "__metadata__") return yield* bad(`unknown metric ${metric}`)
          const bytes = yield* readAt(8 + n + e.data_offsets[0], e.data_offsets[1] - e.data_offsets[0])
          const t: HostTensor<"f32"> = { dtype: "f32", shape: [rows.length, dModel], data: new Float32Array(bytes.buffer) }
          cache.set(metric, t)
          return t
        }).pipe(Effect.provideService(FileSystem.FileSystem, fs)),
    }
    return source
  })

export interface Searcher {
  readonly index: IndexSource
  /** Top-k rows for a target summary under `metric`, restricted to a model fingerprint and prompt length. */
  readonly query: (
    metric: IndexMetric,
    summary: Float32Array,
    k: number,
    only?: { fingerprint?: string; promptLength?: number },
  ) => Effect.Effect<ReadonlyArray<{ row: IndexRow; similarity: number }>, LibraryError>
}

/**
 * Scores on the current Backend: each metric's matrix-vector product is compiled on its first query
 * (so a cold open pays for one) and reused; the index stays bound, zero-copy.
 */
export const makeSearcher = (ix: IndexSource) =>
  Effect.gen(function* () {
    const backend = yield* Backend
    const sessions = new Map<string, Session>()
    const sessionFor = (metric: string) =>
      Effect.gen(function* () {
        const hit = sessions.get(metric)
        if (hit) return hit
        const vectors = yield* ix.load(metric)
        const vecs = ir.input("vectors", [ix.rows.length, ix.dModel])
        const q = ir.input("q", [ix.dModel, 1])
        const s = yield* backend
          .compile({ outputs: { s: ir.matmul(vecs, q) } }, new Map([["vectors", vectors]]))
          .pipe(Effect.mapError((e) => new LibraryError({ library: "(index)", entry: "", message: e.message })))
        sessions.set(metric, s)
        return s
      })
    const query: Searcher["query"] = (metric, summary, k, only) =>
      Effect.gen(function* () {
        if (summary.length !== ix.dModel)
          return yield* new LibraryError({
            library: "(index)",
            entry: "",
            message: `query width ${summary.length}, index width ${ix.dModel}`,
          })
        if (ix.rows.length === 0) return yield* new LibraryError({ library: "(index)", entry: "", message: "the index is empty" })
        const session = yield* sessionFor(metric)
        const out = yield* session
          .run({ q: { dtype: "f32", shape: [ix.dModel, 1], data: summary } })
          .pipe(Effect.mapError((e) => new LibraryError({ library: "(index)", entry: "", message: e.message })))
        const scores = out.s.data as Float32Array
        const allowed =
          only && (only.fingerprint !== undefined || only.promptLength !== undefined)
            ? (i: number) =>
                (only.fingerprint === undefined || fingerprintMatches(ix.rows[i].fingerprint, only.fingerprint)) &&
                (only.promptLength === undefined || ix.rows[i].promptLength === only.promptLength)
            : undefined
        return topKIndices(scores, k, allowed).map((i) => ({ row: ix.rows[i], similarity: Math.max(-1, Math.min(1, scores[i])) }))
      })
    return { index: ix, query } satisfies Searcher
  })
