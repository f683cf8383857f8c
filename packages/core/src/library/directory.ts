/**
 * The directory store of the prompt library:
 *
 *     <library>/library.json                     {"format": "spot-library/1"}
 *     <library>/entries/<name>/entry.json        metadata, seeds, sha256 of every file
 *     <library>/entries/<name>/<file>.safetensors one tensor set per seed (source, embedding, decoder rows)
 *
 * Every file is written to a temp name and renamed; entry.json is written last, so a writer killed
 * at any point leaves either the old entry or the new one, never a partial one. Writers in separate
 * processes serialise on a lock file (exclusive create; a lock older than `staleMs` is broken).
 * Checksums are verified on read; a damaged entry is reported by `list` and skipped.
 */
import { Effect, FileSystem, Layer, Path, Result } from "effect"
import { LibraryError } from "../errors.ts"
import { decodeSafetensors, encodeSafetensors, writeFileAtomic } from "../graph/safetensors.ts"
import type { HostTensor } from "../graph/tensor.ts"
import { buildIndex, decodeIndex, encodeIndex, type RetrievalIndex } from "../spot/search.ts"
import { describeIo } from "./io.ts"
import type { EntryMeta, LibraryEntry, LibraryStore, Listing, SeedRecord } from "./library.ts"
import { Library, validateEntry, validateName } from "./library.ts"
import { type LockOwner, withLock } from "./lock.ts"
import { type EntryJson, FORMAT, parseEntryJson, parseLibraryJson } from "./manifest.ts"

export { FORMAT } from "./manifest.ts"

const sha256 = (bytes: Uint8Array) =>
  Effect.promise(async () => {
    const d = await crypto.subtle.digest("SHA-256", bytes as unknown as ArrayBuffer)
    return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("")
  })

export interface DirectoryOptions {
  readonly staleMs?: number
  readonly lockTimeoutMs?: number
  readonly heartbeatMs?: number
  /** Create the library when it does not exist (`library init`, writers); readers never create files. */
  readonly create?: boolean
  readonly owner?: LockOwner
}

export const makeDirectoryLibrary = (root: string, o: DirectoryOptions = {}) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const err = (entry: string, message: string) => new LibraryError({ library: root, entry, message })
    const io = (entry: string) => (e: unknown) => err(entry, describeIo(e))
    const entriesDir = path.join(root, "entries")
    const lockFile = path.join(root, ".lock")
    const marker = path.join(root, "library.json")
    const atomic = (file: string, bytes: Uint8Array) =>
      writeFileAtomic(file, bytes).pipe(Effect.provideService(FileSystem.FileSystem, fs))
    const exists = (file: string) => fs.exists(file).pipe(Effect.orElseSucceed(() => false))

    /** Readers: the library must exist (nothing is created). */
    const opened = Effect.gen(function* () {
      if (!(yield* exists(marker))) {
        return yield* err(
          "(library)",
          (yield* exists(root))
            ? `${root} is not a prompt library (no library.json); create one with spot library init`
            : `no library at ${root}; create one with spot library init`,
        )
      }
      const text = yield* fs.readFileString(marker).pipe(Effect.mapError(io("(library)")))
      yield* Effect.fromResult(parseLibraryJson(text, root))
    })
    /** Writers (and `library init`): creates the library when missing. */
    const ensure = Effect.gen(function* () {
      if (yield* exists(marker)) return yield* opened
      yield* fs.makeDirectory(entriesDir, { recursive: true }).pipe(Effect.mapError(io("(library)")))
      yield* atomic(marker, new TextEncoder().encode(`${JSON.stringify({ format: FORMAT })}\n`)).pipe(
        Effect.mapError(io("(library)")),
      )
    })
    const ready = o.create ? ensure : opened

    /** Runs `body` holding the library's lock file (see `lock.ts`). */
    const locked = <A, E>(body: Effect.Effect<A, E>) =>
      ensure.pipe(
        Effect.andThen(
          withLock(fs, root, lockFile, {
            ...(o.staleMs !== undefined ? { staleMs: o.staleMs } : {}),
            ...(o.lockTimeoutMs !== undefined ? { timeoutMs: o.lockTimeoutMs } : {}),
            ...(o.heartbeatMs !== undefined ? { heartbeatMs: o.heartbeatMs } : {}),
            ...(o.owner ? { owner: o.owner } : {}),
          })(body),
        ),
      )

    const readEntryJson = (name: string) =>
      Effect.gen(function* () {
        const file = path.join(entriesDir, name, "entry.json")
        const text = yield* fs.readFileString(file).pipe(Effect.mapError(io(name)))
        return yield* Effect.fromResult(parseEntryJson(text, root, name))
      })

    /** Reads and checks every seed file of a parsed entry against its checksum. */
    const verifySeeds = (name: string, j: EntryJson) =>
      Effect.gen(function* () {
        const dir = path.join(entriesDir, name)
        const files: Array<{ seed: EntryJson["seeds"][number]; bytes: Uint8Array }> = []
        for (const s of j.seeds) {
          const bytes = yield* fs.readFile(path.join(dir, s.file)).pipe(Effect.mapError(io(name)))
          if (j.checksums[s.file] !== (yield* sha256(bytes))) return yield* err(name, `checksum mismatch for ${s.file}`)
          files.push({ seed: s, bytes })
        }
        return files
      })

    const metaOf = (j: EntryJson): EntryMeta => ({
      name: j.name,
      task: j.task,
      description: j.description,
      model: j.model,
      promptLength: j.promptLength,
      seeds: j.seeds.map((s) => s.seed),
      created: j.created,
    })

    const get = (name: string) =>
      Effect.gen(function* () {
        yield* ready
        yield* Effect.fromResult(validateName(root, name))
        const dir = path.join(entriesDir, name)
        if (!(yield* fs.exists(path.join(dir, "entry.json")).pipe(Effect.orElseSucceed(() => false)))) {
          return yield* err(name, "no such entry")
        }
        const j = yield* readEntryJson(name)
        const seeds: SeedRecord[] = []
        for (const { seed: s, bytes } of yield* verifySeeds(name, j)) {
          const st = yield* Effect.fromResult(decodeSafetensors(bytes, path.join(dir, s.file))).pipe(
            Effect.mapError((e) => err(name, e.message)),
          )
          const t = (k: string) => st.tensors.get(k) as HostTensor<"f32"> | undefined
          const source = t("source")
          if (!source) return yield* err(name, `${s.file} has no source prompt`)
          const embedding = t("embedding")
          const decoderRows = t("decoder_rows")
          seeds.push({
            seed: s.seed,
            source,
            ...(embedding ? { embedding } : {}),
            ...(decoderRows ? { decoderRows } : {}),
            metrics: s.metrics ?? {},
            provenance: s.provenance ?? {},
          })
        }
        const entry: LibraryEntry = { ...metaOf(j), seeds }
        return yield* Effect.fromResult(validateEntry(root, entry))
      })

    const list = Effect.gen(function* () {
      yield* ready
      const names = (yield* fs.readDirectory(entriesDir).pipe(Effect.mapError(io("(library)"))))
        .filter((n) => !n.startsWith("."))
        .sort()
      const entries: EntryMeta[] = []
      const damaged: Array<{ name: string; reason: string }> = []
      for (const name of names) {
        if (!(yield* fs.exists(path.join(entriesDir, name, "entry.json")).pipe(Effect.orElseSucceed(() => false)))) continue // never completed
        const r = yield* Effect.result(
          readEntryJson(name).pipe(
            Effect.tap((j) => verifySeeds(name, j)),
            Effect.map(metaOf),
          ),
        )
        if (Result.isSuccess(r)) entries.push(r.success)
        else damaged.push({ name, reason: r.failure.message })
      }
      return { entries, damaged } satisfies Listing
    })

    const indexFile = path.join(root, "index.safetensors")
    /** The index as stored, or undefined when missing or unreadable (then it is rebuilt). */
    const readIndex = Effect.gen(function* () {
      if (!(yield* fs.exists(indexFile).pipe(Effect.orElseSucceed(() => false)))) return undefined
      const bytes = yield* fs.readFile(indexFile).pipe(Effect.orElseSucceed(() => new Uint8Array()))
      return Result.getOrUndefined(decodeIndex(bytes, indexFile))
    })
    /** Replaces the rows of `name` in the index by those of `entry` (or drops them); rebuilds when missing. */
    const updateIndex = (name: string, entry: LibraryEntry | undefined) =>
      Effect.gen(function* () {
        const current = yield* readIndex
        if (current && (entry === undefined || current.dModel === entry.model.dModel)) {
          const kept = current.rows.flatMap((row, i) => (row.entry === name ? [] : [i]))
          const add = (entry?.seeds ?? []).filter((s) => s.embedding)
          const extra =
            add.length > 0 && entry
              ? buildIndex(
                  entry.model.dModel,
                  add.map((s) => ({
                    row: {
                      entry: entry.name,
                      task: entry.task,
                      seed: s.seed,
                      fingerprint: entry.model.fingerprint,
                      promptLength: entry.promptLength,
                    },
                    embedding: s.embedding as HostTensor<"f32">,
                  })),
                )
              : undefined
          const rows = [...kept.map((i) => current.rows[i]), ...(extra?.rows ?? [])]
          const vectors = new Map<string, HostTensor<"f32">>()
          for (const [metric, t] of current.vectors) {
            const d = current.dModel
            const data = new Float32Array(rows.length * d)
            kept.forEach((i, j) => {
              data.set(t.data.subarray(i * d, (i + 1) * d), j * d)
            })
            if (extra) data.set((extra.vectors.get(metric) as HostTensor<"f32">).data, kept.length * d)
            vectors.set(metric, { dtype: "f32", shape: [rows.length, d], data })
          }
          return yield* atomic(indexFile, encodeIndex({ dModel: current.dModel, rows, vectors })).pipe(
            Effect.mapError(io("(index)")),
          )
        }
        // no usable index: rebuild from every entry of the width of this one
        const { entries } = yield* list
        const dModel = entry?.model.dModel ?? entries[0]?.model.dModel ?? 0
        const all: Array<{ row: RetrievalIndex["rows"][number]; embedding: HostTensor<"f32"> }> = []
        for (const meta of entries) {
          if (meta.model.dModel !== dModel) continue
          const full = meta.name === entry?.name ? entry : yield* Effect.orElseSucceed(get(meta.name), () => undefined)
          for (const s of full?.seeds ?? []) {
            if (s.embedding && full)
              all.push({
                row: {
                  entry: full.name,
                  task: full.task,
                  seed: s.seed,
                  fingerprint: full.model.fingerprint,
                  promptLength: full.promptLength,
                },
                embedding: s.embedding,
              })
          }
        }
        yield* atomic(indexFile, encodeIndex(buildIndex(dModel, all))).pipe(Effect.mapError(io("(index)")))
      })

    const index = Effect.gen(function* () {
      yield* ready
      const ix = yield* readIndex
      if (ix) return ix
      yield* locked(updateIndex("", undefined))
      return (yield* readIndex) ?? buildIndex(0, [])
    })

    /** Before a change: the index must be a file (or absent) so that the change cannot fail half-way on it. */
    const indexWritable = Effect.gen(function* () {
      const info = yield* Effect.result(fs.stat(indexFile))
      if (Result.isSuccess(info) && info.success.type !== "File")
        return yield* err("(index)", `${indexFile} is a ${info.success.type.toLowerCase()}, not an index file; remove it`)
    })

    const put = (entry: LibraryEntry) =>
      Effect.gen(function* () {
        // everything is validated before the library (or anything in it) is created or changed
        yield* Effect.fromResult(validateName(root, entry.name))
        yield* Effect.fromResult(validateEntry(root, entry))
        return yield* locked(putLocked(entry))
      })
    const putLocked = (entry: LibraryEntry) =>
      Effect.gen(function* () {
        yield* indexWritable
        const dir = path.join(entriesDir, entry.name)
        const exists = yield* fs.exists(path.join(dir, "entry.json")).pipe(Effect.orElseSucceed(() => false))
        const old = exists ? yield* readEntryJson(entry.name) : undefined
        if (old) yield* verifySeeds(entry.name, old)
        if (
          old &&
          (old.model.fingerprint !== entry.model.fingerprint ||
            old.promptLength !== entry.promptLength ||
            old.model.dModel !== entry.model.dModel)
        ) {
          return yield* err(entry.name, "an entry of that name exists for another model or prompt shape; remove it first")
        }
        yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError(io(entry.name)))
        const replaced = new Set(entry.seeds.map((s) => s.seed))
        const kept = (old?.seeds ?? []).filter((s) => !replaced.has(s.seed))
        const checksums: Record<string, string> = {}
        for (const s of kept) checksums[s.file] = old?.checksums[s.file] ?? ""
        const added: EntryJson["seeds"] = []
        for (const s of entry.seeds) {
          const tensors: Record<string, HostTensor> = { source: s.source }
          if (s.embedding) tensors.embedding = s.embedding
          if (s.decoderRows) tensors.decoder_rows = s.decoderRows
          const bytes = encodeSafetensors(tensors)
          const file = `seed-${s.seed}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.safetensors`
          yield* atomic(path.join(dir, file), bytes).pipe(Effect.mapError(io(entry.name)))
          checksums[file] = yield* sha256(bytes)
          added.push({ seed: s.seed, file, metrics: { ...s.metrics }, provenance: { ...s.provenance } })
        }
        const json: EntryJson = {
          format: FORMAT,
          name: entry.name,
          task: entry.task,
          description: entry.description,
          model: { fingerprint: entry.model.fingerprint, dModel: entry.model.dModel },
          promptLength: entry.promptLength,
          created: old?.created ?? entry.created,
          seeds: [...kept, ...added].sort((a, b) => a.seed - b.seed),
          checksums,
        }
        yield* atomic(path.join(dir, "entry.json"), new TextEncoder().encode(`${JSON.stringify(json, null, 2)}\n`)).pipe(
          Effect.mapError(io(entry.name)),
        )
        for (const s of old?.seeds ?? []) if (replaced.has(s.seed)) yield* fs.remove(path.join(dir, s.file)).pipe(Effect.ignore)
        yield* updateIndex(entry.name, yield* get(entry.name))
      })

    const remove = (name: string) =>
      Effect.gen(function* () {
        yield* Effect.fromResult(validateName(root, name))
        yield* opened // removing from a library that does not exist creates nothing
        return yield* locked(removeLocked(name))
      })
    const removeLocked = (name: string) =>
      Effect.gen(function* () {
        yield* indexWritable
        const dir = path.join(entriesDir, name)
        if (!(yield* fs.exists(dir).pipe(Effect.orElseSucceed(() => false)))) return yield* err(name, "no such entry")
        // entry.json first: from then on the entry is gone even if removal of the rest is interrupted
        yield* fs.remove(path.join(dir, "entry.json")).pipe(Effect.ignore)
        yield* fs.remove(dir, { recursive: true }).pipe(Effect.mapError(io(name)))
        yield* updateIndex(name, undefined)
      })

    return { location: root, list, get, put, remove, index } satisfies LibraryStore
  })

export const DirectoryLibrary = {
  layer: (root: string, o: DirectoryOptions = {}) => Layer.effect(Library, makeDirectoryLibrary(root, o)),
}
