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
import type { EntryMeta, LibraryEntry, LibraryStore, Listing, SeedRecord } from "./library.ts"
import { Library, validateEntry, validateName } from "./library.ts"

export const FORMAT = "spot-library/1"

const sha256 = (bytes: Uint8Array) =>
  Effect.promise(async () => {
    const d = await crypto.subtle.digest("SHA-256", bytes as unknown as ArrayBuffer)
    return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("")
  })

interface EntryJson {
  format: string
  name: string
  task: string
  description: string
  model: { fingerprint: string; dModel: number }
  promptLength: number
  created: string
  seeds: Array<{ seed: number; file: string; metrics: Record<string, number>; provenance: Record<string, string> }>
  checksums: Record<string, string>
}

export interface DirectoryOptions {
  readonly staleMs?: number
  readonly lockTimeoutMs?: number
}

/** What every operation of a directory library reads: its folder, options and the platform services. */
interface Ctx {
  readonly root: string
  readonly o: DirectoryOptions
  readonly fs: FileSystem.FileSystem
  readonly path: Path.Path
  readonly entriesDir: string
  readonly lockFile: string
  readonly indexFile: string
}

const err = (c: Ctx, entry: string, message: string) => new LibraryError({ library: c.root, entry, message })
const io = (c: Ctx, entry: string) => (e: { message: string }) => err(c, entry, e.message)
const atomic = (c: Ctx, file: string, bytes: Uint8Array) =>
  writeFileAtomic(file, bytes).pipe(Effect.provideService(FileSystem.FileSystem, c.fs))

const ensure = (c: Ctx) =>
  Effect.gen(function* () {
    yield* c.fs.makeDirectory(c.entriesDir, { recursive: true }).pipe(Effect.mapError(io(c, "(library)")))
    const marker = c.path.join(c.root, "library.json")
    if (!(yield* c.fs.exists(marker).pipe(Effect.orElseSucceed(() => false)))) {
      yield* atomic(c, marker, new TextEncoder().encode(`${JSON.stringify({ format: FORMAT })}\n`)).pipe(
        Effect.mapError(io(c, "(library)")),
      )
    } else {
      const text = yield* c.fs.readFileString(marker).pipe(Effect.mapError(io(c, "(library)")))
      const fmt = Result.getOrUndefined(Result.try(() => (JSON.parse(text) as { format?: unknown }).format))
      if (fmt !== FORMAT) return yield* err(c, "(library)", `library.json has format ${JSON.stringify(fmt)}, expected ${FORMAT}`)
    }
  })

/** Runs `body` holding the library's lock file. */
const locked = <A, E>(c: Ctx, body: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    yield* ensure(c)
    const deadline = Date.now() + (c.o.lockTimeoutMs ?? 60_000)
    for (let attempt = 0; ; attempt++) {
      const got = yield* c.fs.writeFileString(c.lockFile, `${Date.now()}\n`, { flag: "wx" }).pipe(
        Effect.as(true),
        Effect.orElseSucceed(() => false),
      )
      if (got) break
      const info = yield* c.fs.stat(c.lockFile).pipe(Effect.option)
      const age = info._tag === "Some" && info.value.mtime._tag === "Some" ? Date.now() - info.value.mtime.value.getTime() : 0
      if (age > (c.o.staleMs ?? 30_000)) yield* c.fs.remove(c.lockFile).pipe(Effect.ignore)
      if (Date.now() > deadline)
        return yield* err(c, "(lock)", `could not take ${c.lockFile} within ${c.o.lockTimeoutMs ?? 60_000} ms`)
      yield* Effect.sleep(5 + Math.min(100, attempt * 5) * Math.random())
    }
    return yield* body.pipe(Effect.ensuring(c.fs.remove(c.lockFile).pipe(Effect.ignore)))
  })

const readEntryJson = (c: Ctx, name: string) =>
  Effect.gen(function* () {
    const file = c.path.join(c.entriesDir, name, "entry.json")
    const text = yield* c.fs.readFileString(file).pipe(Effect.mapError(io(c, name)))
    const j = yield* Effect.try({
      try: () => JSON.parse(text) as EntryJson,
      catch: () => err(c, name, "entry.json is not valid JSON"),
    })
    if (j.format !== FORMAT) return yield* err(c, name, `entry.json has format ${JSON.stringify(j.format)}, expected ${FORMAT}`)
    if (
      j.name !== name ||
      !Array.isArray(j.seeds) ||
      typeof j.model?.fingerprint !== "string" ||
      typeof j.promptLength !== "number"
    ) {
      return yield* err(c, name, "entry.json is missing fields")
    }
    return j
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

const get = (c: Ctx, name: string) =>
  Effect.gen(function* () {
    yield* Effect.fromResult(validateName(c.root, name))
    const dir = c.path.join(c.entriesDir, name)
    if (!(yield* c.fs.exists(c.path.join(dir, "entry.json")).pipe(Effect.orElseSucceed(() => false)))) {
      return yield* err(c, name, "no such entry")
    }
    const j = yield* readEntryJson(c, name)
    const seeds: SeedRecord[] = []
    for (const s of j.seeds) {
      if (!/^[A-Za-z0-9._-]+$/.test(s.file)) return yield* err(c, name, `bad file name ${s.file}`)
      const bytes = yield* c.fs.readFile(c.path.join(dir, s.file)).pipe(Effect.mapError(io(c, name)))
      const sum = yield* sha256(bytes)
      if (j.checksums[s.file] !== sum) return yield* err(c, name, `checksum mismatch for ${s.file}`)
      const st = yield* Effect.fromResult(decodeSafetensors(bytes, c.path.join(dir, s.file))).pipe(
        Effect.mapError((e) => err(c, name, e.message)),
      )
      const t = (k: string) => st.tensors.get(k) as HostTensor<"f32"> | undefined
      const source = t("source")
      if (!source) return yield* err(c, name, `${s.file} has no source prompt`)
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
    return yield* Effect.fromResult(validateEntry(c.root, entry))
  })

const list = (c: Ctx) =>
  Effect.gen(function* () {
    yield* ensure(c)
    const names = (yield* c.fs.readDirectory(c.entriesDir).pipe(Effect.mapError(io(c, "(library)"))))
      .filter((n) => !n.startsWith("."))
      .sort()
    const entries: EntryMeta[] = []
    const damaged: Array<{ name: string; reason: string }> = []
    for (const name of names) {
      if (!(yield* c.fs.exists(c.path.join(c.entriesDir, name, "entry.json")).pipe(Effect.orElseSucceed(() => false)))) continue // never completed
      const r = yield* Effect.result(readEntryJson(c, name))
      if (Result.isSuccess(r)) entries.push(metaOf(r.success))
      else damaged.push({ name, reason: r.failure.message })
    }
    return { entries, damaged } satisfies Listing
  })

/** The index as stored, or undefined when missing or unreadable (then it is rebuilt). */
const readIndex = (c: Ctx) =>
  Effect.gen(function* () {
    if (!(yield* c.fs.exists(c.indexFile).pipe(Effect.orElseSucceed(() => false)))) return undefined
    const bytes = yield* c.fs.readFile(c.indexFile).pipe(Effect.orElseSucceed(() => new Uint8Array()))
    return Result.getOrUndefined(decodeIndex(bytes, c.indexFile))
  })
/** Replaces the rows of `name` in the index by those of `entry` (or drops them); rebuilds when missing. */
const updateIndex = (c: Ctx, name: string, entry: LibraryEntry | undefined) =>
  Effect.gen(function* () {
    const current = yield* readIndex(c)
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
      return yield* atomic(c, c.indexFile, encodeIndex({ dModel: current.dModel, rows, vectors })).pipe(
        Effect.mapError(io(c, "(index)")),
      )
    }
    // no usable index: rebuild from every entry of the width of this one
    const { entries } = yield* list(c)
    const dModel = entry?.model.dModel ?? entries[0]?.model.dModel ?? 0
    const all: Array<{ row: RetrievalIndex["rows"][number]; embedding: HostTensor<"f32"> }> = []
    for (const meta of entries) {
      if (meta.model.dModel !== dModel) continue
      const full = meta.name === entry?.name ? entry : yield* Effect.orElseSucceed(get(c, meta.name), () => undefined)
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
    yield* atomic(c, c.indexFile, encodeIndex(buildIndex(dModel, all))).pipe(Effect.mapError(io(c, "(index)")))
  })

const index = (c: Ctx) =>
  Effect.gen(function* () {
    yield* ensure(c)
    const ix = yield* readIndex(c)
    if (ix) return ix
    yield* locked(c, updateIndex(c, "", undefined))
    return (yield* readIndex(c)) ?? buildIndex(0, [])
  })

const put = (c: Ctx, entry: LibraryEntry) =>
  locked(
    c,
    Effect.gen(function* () {
      yield* Effect.fromResult(validateName(c.root, entry.name))
      yield* Effect.fromResult(validateEntry(c.root, entry))
      const dir = c.path.join(c.entriesDir, entry.name)
      yield* c.fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError(io(c, entry.name)))
      const exists = yield* c.fs.exists(c.path.join(dir, "entry.json")).pipe(Effect.orElseSucceed(() => false))
      const old = exists ? yield* readEntryJson(c, entry.name) : undefined
      if (
        old &&
        (old.model.fingerprint !== entry.model.fingerprint ||
          old.promptLength !== entry.promptLength ||
          old.model.dModel !== entry.model.dModel)
      ) {
        return yield* err(c, entry.name, "an entry of that name exists for another model or prompt shape; remove it first")
      }
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
        yield* atomic(c, c.path.join(dir, file), bytes).pipe(Effect.mapError(io(c, entry.name)))
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
      yield* atomic(c, c.path.join(dir, "entry.json"), new TextEncoder().encode(`${JSON.stringify(json, null, 2)}\n`)).pipe(
        Effect.mapError(io(c, entry.name)),
      )
      for (const s of old?.seeds ?? []) if (replaced.has(s.seed)) yield* c.fs.remove(c.path.join(dir, s.file)).pipe(Effect.ignore)
      yield* updateIndex(c, entry.name, yield* get(c, entry.name))
    }),
  )

const remove = (c: Ctx, name: string) =>
  locked(
    c,
    Effect.gen(function* () {
      yield* Effect.fromResult(validateName(c.root, name))
      const dir = c.path.join(c.entriesDir, name)
      if (!(yield* c.fs.exists(dir).pipe(Effect.orElseSucceed(() => false)))) return yield* err(c, name, "no such entry")
      // entry.json first: from then on the entry is gone even if removal of the rest is interrupted
      yield* c.fs.remove(c.path.join(dir, "entry.json")).pipe(Effect.ignore)
      yield* c.fs.remove(dir, { recursive: true }).pipe(Effect.mapError(io(c, name)))
      yield* updateIndex(c, name, undefined)
    }),
  )

export const makeDirectoryLibrary = (root: string, o: DirectoryOptions = {}) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const c: Ctx = {
      root,
      o,
      fs,
      path,
      entriesDir: path.join(root, "entries"),
      lockFile: path.join(root, ".lock"),
      indexFile: path.join(root, "index.safetensors"),
    }
    return {
      location: root,
      list: list(c),
      get: (name) => get(c, name),
      put: (entry) => put(c, entry),
      remove: (name) => remove(c, name),
      index: index(c),
    } satisfies LibraryStore
  })

export const DirectoryLibrary = {
  layer: (root: string, o: DirectoryOptions = {}) => Layer.effect(Library, makeDirectoryLibrary(root, o)),
}
