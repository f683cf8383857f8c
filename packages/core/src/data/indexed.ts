/**
 * A JSONL training set read lazily, for files too large to hold as examples. One streaming pass
 * checks and renders every record — the same parse, render and cut as `loadDataset`, so its errors
 * name the same file, line and field — and keeps only each record's byte offset (a `Float64Array`,
 * 8 bytes a record), the count, the distinct targets while they are few (for classification) and a
 * digest of the bytes. A batch then reads just its records by positioned reads and renders them the
 * same way, so it holds the examples `loadDataset` would have given, while memory stays the offsets
 * plus one batch, whatever the size of the texts.
 */
import { Effect, FileSystem, Option, Result, Stream } from "effect"
import { DataError } from "../errors.ts"
import { fnv1a } from "../graph/hash.ts"
import { classesOf, makeRenderer } from "./dataset.ts"
import { fileError, jsonRecord } from "./text.ts"
import type { Example, IndexedDataset, TaskDef, TextBudget, TrainSet } from "./types.ts"

export type { IndexedDataset, TrainSet } from "./types.ts"

/** Distinct targets an index keeps (beyond this many, the set is not a classification task). */
export const MAX_DISTINCT = 64

/** Whether a training set is an indexed file rather than examples in memory. */
export const isIndexed = (d: TrainSet): d is IndexedDataset => (d as { kind?: string }).kind === "indexed"

const concat = (parts: readonly Uint8Array[]): Uint8Array => {
  if (parts.length === 1) return parts[0]
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

const mtimeOf = (info: FileSystem.File.Info): number | undefined => Option.getOrUndefined(info.mtime)?.getTime()

/** What the indexing pass accumulates: record offsets (grown by doubling), distinct targets, digest. */
const makeIndexer = (file: string, task: TaskDef, budget: TextBudget) => {
  const renderOne = makeRenderer(task, file, budget)
  const decoder = new TextDecoder("utf-8")
  const st = {
    offsets: new Float64Array(1024),
    size: 0,
    line: 0,
    at: 0,
    lineStart: 0,
    parts: [] as Uint8Array[],
    hash: 0x811c9dc5,
    distinct: new Set<string>() as Set<string> | undefined,
  }
  const onLine = (bytes: Uint8Array, start: number): Result.Result<void, DataError> => {
    const line = ++st.line
    const text = decoder.decode(bytes).trim()
    if (text === "") return Result.void
    return Result.flatMap(jsonRecord(text, file, line), (rec) =>
      Result.map(renderOne(line, rec), (e) => {
        if (st.size + 1 >= st.offsets.length) {
          const grown = new Float64Array(st.offsets.length * 2)
          grown.set(st.offsets)
          st.offsets = grown
        }
        st.offsets[st.size++] = start
        st.distinct?.add(e.target)
        if (st.distinct && st.distinct.size > MAX_DISTINCT) st.distinct = undefined
      }),
    )
  }
  const onChunk = (chunk: Uint8Array): Result.Result<void, DataError> => {
    st.hash = Number.parseInt(fnv1a(chunk, st.hash), 16)
    let from = 0
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, from)) {
      const piece = chunk.subarray(from, nl)
      const bytes = st.parts.length === 0 ? piece : concat([...st.parts, piece])
      st.parts = []
      const r = onLine(bytes, st.lineStart)
      if (Result.isFailure(r)) return r
      from = nl + 1
      st.lineStart = st.at + from
    }
    // the start of a line continued in the next chunk (copied: a stream may reuse its buffers)
    if (from < chunk.length) st.parts.push(chunk.slice(from))
    st.at += chunk.length
    return Result.void
  }
  const finish = (): Result.Result<void, DataError> => {
    const rest = st.parts
    st.parts = []
    return rest.length > 0 ? onLine(concat(rest), st.lineStart) : Result.void
  }
  return { st, onChunk, finish }
}

/**
 * Indexes a JSONL file of `task` (a column task: `columnTask`/`plainTask`): one streaming pass that
 * validates and renders each record (texts cut to `budget`) and keeps its byte offset.
 */
export const indexJsonl = (file: string, task: TaskDef, budget: TextBudget = {}) =>
  Effect.gen(function* () {
    if (task.format) {
      return yield* new DataError({
        file,
        line: 0,
        field: "(task)",
        message: `${task.name} is a T5-formatted task (one record may make several examples); such tasks are read into memory`,
      })
    }
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(file).pipe(Effect.mapError(fileError(file)))
    const ix = makeIndexer(file, task, budget)
    yield* fs.stream(file, { chunkSize: 1 << 20 }).pipe(
      Stream.mapError(fileError(file)),
      Stream.runForEach((chunk) => Effect.fromResult(ix.onChunk(chunk))),
    )
    yield* Effect.fromResult(ix.finish())
    const { st } = ix
    if (st.size === 0) return yield* new DataError({ file, line: 0, field: "(file)", message: "no examples" })
    st.offsets[st.size] = st.at
    const targets = st.distinct ? [...st.distinct].sort() : undefined
    return {
      kind: "indexed",
      task,
      render: task,
      file,
      budget,
      size: st.size,
      offsets: st.offsets.slice(0, st.size + 1),
      bytes: st.at,
      mtime: mtimeOf(info),
      digest: (st.hash >>> 0).toString(16).padStart(8, "0"),
      targets,
      ...(task.verbalizer ? { candidates: Object.values(task.verbalizer) } : {}),
    } satisfies IndexedDataset
  })

/** `Data.inferClassification` for an indexed set: classes when its targets take few distinct values. */
export const inferClassification = (ds: IndexedDataset, maxClasses = 20): IndexedDataset => {
  if (ds.candidates || ds.task.verbalizer || ds.targets === undefined || maxClasses > MAX_DISTINCT) return ds
  const c = classesOf(ds.task, ds.targets, maxClasses)
  return c === undefined ? ds : { ...ds, task: c.task, candidates: c.candidates }
}

/** Reads bytes [start, end) of an open file by positioned reads. */
const readRange = (handle: FileSystem.File, start: number, end: number) =>
  Effect.gen(function* () {
    const out = new Uint8Array(end - start)
    let done = 0
    while (done < out.length) {
      const n = yield* handle.read(out.subarray(done), { position: BigInt(start + done) })
      if (n === 0) break
      done += n
    }
    return out.subarray(0, done)
  })

/**
 * The examples at `indices` (in that order, repeats allowed) of an indexed set: each record read by a
 * positioned read, parsed, rendered with the set's task and budget, and labelled with its class.
 * A file that changed since it was indexed (length or modification time) is a `DataError`.
 */
export const readExamples = (ds: IndexedDataset, indices: readonly number[]) =>
  Effect.scoped(
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const handle = yield* fs.open(ds.file, { flag: "r" }).pipe(Effect.mapError(fileError(ds.file)))
      const info = yield* handle.stat.pipe(Effect.mapError(fileError(ds.file)))
      if (Number(info.size) !== ds.bytes || mtimeOf(info) !== ds.mtime) {
        return yield* new DataError({
          file: ds.file,
          line: 0,
          field: "(file)",
          message: `changed since it was indexed (${ds.bytes} bytes then, ${Number(info.size)} now); run again to index it anew`,
        })
      }
      const renderOne = makeRenderer(ds.render, ds.file, ds.budget)
      const decoder = new TextDecoder("utf-8")
      const read = new Map<number, Example>()
      const out: Example[] = []
      for (const i of indices) {
        let e = read.get(i)
        if (e === undefined) {
          if (!Number.isInteger(i) || i < 0 || i >= ds.size) {
            return yield* new DataError({
              file: ds.file,
              line: 0,
              field: "(record)",
              message: `record ${i} is out of range (the file has ${ds.size})`,
            })
          }
          const start = ds.offsets[i]
          const text = decoder.decode(
            yield* readRange(handle, start, ds.offsets[i + 1]).pipe(Effect.mapError(fileError(ds.file))),
          )
          const where = (err: DataError) =>
            new DataError({ ...err, message: `record ${i + 1} (byte ${start}): ${err.message}; did the file change?` })
          const rec = yield* Effect.fromResult(jsonRecord(text.trim(), ds.file, 0)).pipe(Effect.mapError(where))
          const rendered = yield* Effect.fromResult(renderOne(0, rec)).pipe(Effect.mapError(where))
          const label = rendered.label ?? ds.candidates?.indexOf(rendered.target)
          if (label !== undefined && label < 0) {
            return yield* where(
              new DataError({
                file: ds.file,
                line: 0,
                field: "target",
                message: `unknown label ${JSON.stringify(rendered.target)}`,
              }),
            )
          }
          e = label === undefined || rendered.label !== undefined ? rendered : { ...rendered, label }
          read.set(i, e)
        }
        out.push(e)
      }
      return out
    }),
  )
