/**
 * The retrieval index of the directory store, `<library>/index.safetensors`: one row a seed with an
 * embedding, kept in step with every change (the rows of the changed entry replaced) and rebuilt from
 * the entries when it is missing or unreadable.
 */
import { Effect, Result } from "effect"
import type { HostTensor } from "../graph/tensor.ts"
import { buildIndex, decodeIndex, encodeIndex, type RetrievalIndex } from "../spot/search.ts"
import { getEntry, listEntries } from "./directory-entries.ts"
import { type Folder, fileExists, ioError, libraryError, readyLibrary, withLibraryLock, writeAtomic } from "./directory-folder.ts"
import { indexItems, type LibraryEntry } from "./library.ts"

/** The index as stored, or undefined when missing or unreadable (then it is rebuilt). */
const readIndex = (f: Folder) =>
  Effect.gen(function* () {
    if (!(yield* fileExists(f, f.indexFile))) return undefined
    const bytes = yield* f.fs.readFile(f.indexFile).pipe(Effect.orElseSucceed(() => new Uint8Array()))
    return Result.getOrUndefined(decodeIndex(bytes, f.indexFile))
  })

/** `current` with the rows of `name` replaced by those of `entry` (or dropped); of the same width. */
const patchIndex = (current: RetrievalIndex, name: string, entry: LibraryEntry | undefined): RetrievalIndex => {
  const kept = current.rows.flatMap((row, i) => (row.entry === name ? [] : [i]))
  const add = entry ? indexItems(entry) : []
  const extra = add.length > 0 && entry ? buildIndex(entry.model.dModel, add) : undefined
  const rows = [...kept.map((i) => current.rows[i]), ...(extra?.rows ?? [])]
  const d = current.dModel
  const vectors = new Map<string, HostTensor<"f32">>()
  for (const [metric, t] of current.vectors) {
    const data = new Float32Array(rows.length * d)
    kept.forEach((i, j) => {
      data.set(t.data.subarray(i * d, (i + 1) * d), j * d)
    })
    if (extra) data.set((extra.vectors.get(metric) as HostTensor<"f32">).data, kept.length * d)
    vectors.set(metric, { dtype: "f32", shape: [rows.length, d], data })
  }
  return { dModel: d, rows, vectors }
}

/** The index built from every entry of the width of `entry` (or of the first entry); `entry` stands for its stored self. */
const rebuildIndex = (f: Folder, entry: LibraryEntry | undefined) =>
  Effect.gen(function* () {
    const { entries } = yield* listEntries(f)
    const dModel = entry?.model.dModel ?? entries[0]?.model.dModel ?? 0
    const all: ReturnType<typeof indexItems> = []
    for (const meta of entries) {
      if (meta.model.dModel !== dModel) continue
      const full = meta.name === entry?.name ? entry : yield* Effect.orElseSucceed(getEntry(f, meta.name), () => undefined)
      if (full) all.push(...indexItems(full))
    }
    return buildIndex(dModel, all)
  })

/** Replaces the rows of `name` in the index by those of `entry` (or drops them); rebuilds when missing. Under the lock. */
export const updateIndex = (f: Folder, name: string, entry: LibraryEntry | undefined) =>
  Effect.gen(function* () {
    const current = yield* readIndex(f)
    const next =
      current && (entry === undefined || current.dModel === entry.model.dModel)
        ? patchIndex(current, name, entry)
        : yield* rebuildIndex(f, entry)
    yield* writeAtomic(f, f.indexFile, encodeIndex(next)).pipe(Effect.mapError(ioError(f, "(index)")))
  })

/** The index, built (under the lock) when missing or unreadable. */
export const readOrBuildIndex = (f: Folder) =>
  Effect.gen(function* () {
    yield* readyLibrary(f)
    const ix = yield* readIndex(f)
    if (ix) return ix
    yield* withLibraryLock(f, updateIndex(f, "", undefined))
    return (yield* readIndex(f)) ?? buildIndex(0, [])
  })

/** Before a change: the index must be a file (or absent) so that the change cannot fail half-way on it. */
export const checkIndexWritable = (f: Folder) =>
  Effect.gen(function* () {
    const info = yield* Effect.result(f.fs.stat(f.indexFile))
    if (Result.isSuccess(info) && info.success.type !== "File")
      return yield* libraryError(
        f,
        "(index)",
        `${f.indexFile} is a ${info.success.type.toLowerCase()}, not an index file; remove it`,
      )
  })
