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
import { decodeSafetensors, encodeSafetensors, writeFileAtomic } from "../safetensors.ts"
import type { HostTensor } from "../tensor.ts"
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

export const makeDirectoryLibrary = (root: string, o: DirectoryOptions = {}) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const err = (entry: string, message: string) => new LibraryError({ library: root, entry, message })
    const io = (entry: string) => (e: { message: string }) => err(entry, e.message)
    const entriesDir = path.join(root, "entries")
    const lockFile = path.join(root, ".lock")
    const atomic = (file: string, bytes: Uint8Array) =>
      writeFileAtomic(file, bytes).pipe(Effect.provideService(FileSystem.FileSystem, fs))

    const ensure = Effect.gen(function* () {
      yield* fs.makeDirectory(entriesDir, { recursive: true }).pipe(Effect.mapError(io("(library)")))
      const marker = path.join(root, "library.json")
      if (!(yield* fs.exists(marker).pipe(Effect.orElseSucceed(() => false)))) {
        yield* atomic(marker, new TextEncoder().encode(`${JSON.stringify({ format: FORMAT })}\n`)).pipe(
          Effect.mapError(io("(library)")),
        )
      } else {
        const text = yield* fs.readFileString(marker).pipe(Effect.mapError(io("(library)")))
        const fmt = Result.getOrUndefined(Result.try(() => (JSON.parse(text) as { format?: unknown }).format))
        if (fmt !== FORMAT) return yield* err("(library)", `library.json has format ${JSON.stringify(fmt)}, expected ${FORMAT}`)
      }
    })

    /** Runs `body` holding the library's lock file. */
    const locked = <A, E>(body: Effect.Effect<A, E>) =>
      Effect.gen(function* () {
        yield* ensure
        const deadline = Date.now() + (o.lockTimeoutMs ?? 60_000)
        for (let attempt = 0; ; attempt++) {
          const got = yield* fs.writeFileString(lockFile, `${Date.now()}\n`, { flag: "wx" }).pipe(
            Effect.as(true),
            Effect.orElseSucceed(() => false),
          )
          if (got) break
          const info = yield* fs.stat(lockFile).pipe(Effect.option)
          const age = info._tag === "Some" && info.value.mtime._tag === "Some" ? Date.now() - info.value.mtime.value.getTime() : 0
          if (age > (o.staleMs ?? 30_000)) yield* fs.remove(lockFile).pipe(Effect.ignore)
          if (Date.now() > deadline)
            return yield* err("(lock)", `could not take ${lockFile} within ${o.lockTimeoutMs ?? 60_000} ms`)
          yield* Effect.sleep(5 + Math.min(100, attempt * 5) * Math.random())
        }
        return yield* body.pipe(Effect.ensuring(fs.remove(lockFile).pipe(Effect.ignore)))
      })

    const readEntryJson = (name: string) =>
      Effect.gen(function* () {
        const file = path.join(entriesDir, name, "entry.json")
        const text = yield* fs.readFileString(file).pipe(Effect.mapError(io(name)))
        const j = yield* Effect.try({
          try: () => JSON.parse(text) as EntryJson,
          catch: () => err(name, "entry.json is not valid JSON"),
        })
        if (j.format !== FORMAT) return yield* err(name, `entry.json has format ${JSON.stringify(j.format)}, expected ${FORMAT}`)
        if (
          j.name !== name ||
          !Array.isArray(j.seeds) ||
          typeof j.model?.fingerprint !== "string" ||
          typeof j.promptLength !== "number"
        ) {
          return yield* err(name, "entry.json is missing fields")
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

    const get = (name: string) =>
      Effect.gen(function* () {
        yield* Effect.fromResult(validateName(root, name))
        const dir = path.join(entriesDir, name)
        if (!(yield* fs.exists(path.join(dir, "entry.json")).pipe(Effect.orElseSucceed(() => false)))) {
          return yield* err(name, "no such entry")
        }
        const j = yield* readEntryJson(name)
        const seeds: SeedRecord[] = []
        for (const s of j.seeds) {
          if (!/^[A-Za-z0-9._-]+$/.test(s.file)) return yield* err(name, `bad file name ${s.file}`)
          const bytes = yield* fs.readFile(path.join(dir, s.file)).pipe(Effect.mapError(io(name)))
          const sum = yield* sha256(bytes)
          if (j.checksums[s.file] !== sum) return yield* err(name, `checksum mismatch for ${s.file}`)
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
      yield* ensure
      const names = (yield* fs.readDirectory(entriesDir).pipe(Effect.mapError(io("(library)"))))
        .filter((n) => !n.startsWith("."))
        .sort()
      const entries: EntryMeta[] = []
      const damaged: Array<{ name: string; reason: string }> = []
      for (const name of names) {
        if (!(yield* fs.exists(path.join(entriesDir, name, "entry.json")).pipe(Effect.orElseSucceed(() => false)))) continue // never completed
        const r = yield* Effect.result(readEntryJson(name))
        if (Result.isSuccess(r)) entries.push(metaOf(r.success))
        else damaged.push({ name, reason: r.failure.message })
      }
      return { entries, damaged } satisfies Listing
    })

    const put = (entry: LibraryEntry) =>
      locked(
        Effect.gen(function* () {
          yield* Effect.fromResult(validateName(root, entry.name))
          yield* Effect.fromResult(validateEntry(root, entry))
          const dir = path.join(entriesDir, entry.name)
          yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError(io(entry.name)))
          const exists = yield* fs.exists(path.join(dir, "entry.json")).pipe(Effect.orElseSucceed(() => false))
          const old = exists ? yield* readEntryJson(entry.name) : undefined
          if (
            old &&
            (old.model.fingerprint !== entry.model.fingerprint ||
              old.promptLength !== entry.promptLength ||
              old.model.dModel !== entry.model.dModel)
          ) {
            return yield* err(entry.name, "an entry of that name exists for another model or prompt shape; remove it first")
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
        }),
      )

    const remove = (name: string) =>
      locked(
        Effect.gen(function* () {
          yield* Effect.fromResult(validateName(root, name))
          const dir = path.join(entriesDir, name)
          if (!(yield* fs.exists(dir).pipe(Effect.orElseSucceed(() => false)))) return yield* err(name, "no such entry")
          // entry.json first: from then on the entry is gone even if removal of the rest is interrupted
          yield* fs.remove(path.join(dir, "entry.json")).pipe(Effect.ignore)
          yield* fs.remove(dir, { recursive: true }).pipe(Effect.mapError(io(name)))
        }),
      )

    return { location: root, list, get, put, remove } satisfies LibraryStore
  })

export const DirectoryLibrary = {
  layer: (root: string, o: DirectoryOptions = {}) => Layer.effect(Library, makeDirectoryLibrary(root, o)),
}
