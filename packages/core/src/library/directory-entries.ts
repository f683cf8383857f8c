/**
 * The entries of the directory store: `entries/<name>/entry.json` (metadata, seeds, the sha256 of
 * every file) and one safetensors file a seed. Reading checks every checksum; writing puts each seed
 * file under a fresh name (temp + rename), then entry.json last, then removes the files it replaced,
 * so that a writer killed at any point leaves the old entry or the new one, never a partial one.
 */
import { Effect, Result } from "effect"
import { decodeSafetensors, encodeSafetensors } from "../graph/safetensors.ts"
import type { HostTensor } from "../graph/tensor.ts"
import {
  entryDir,
  type Folder,
  fileExists,
  ioError,
  libraryError,
  readyLibrary,
  sha256,
  writeAtomic,
} from "./directory-folder.ts"
import type { EntryMeta, LibraryEntry, Listing, SeedRecord } from "./library.ts"
import { seedTensors, validateEntry, validateName } from "./library.ts"
import { type EntryJson, FORMAT, parseEntryJson } from "./manifest.ts"

const entryJsonFile = (f: Folder, name: string) => f.path.join(entryDir(f, name), "entry.json")

/** Whether `entries/<name>/entry.json` exists: an entry without one never completed (or is being removed). */
export const entryExists = (f: Folder, name: string) => fileExists(f, entryJsonFile(f, name))

export const readEntryJson = (f: Folder, name: string) =>
  Effect.gen(function* () {
    const text = yield* f.fs.readFileString(entryJsonFile(f, name)).pipe(Effect.mapError(ioError(f, name)))
    return yield* Effect.fromResult(parseEntryJson(text, f.root, name))
  })

/** Reads and checks every seed file of a parsed entry against its checksum. */
export const verifySeeds = (f: Folder, name: string, j: EntryJson) =>
  Effect.gen(function* () {
    const dir = entryDir(f, name)
    const files: Array<{ seed: EntryJson["seeds"][number]; bytes: Uint8Array }> = []
    for (const s of j.seeds) {
      const bytes = yield* f.fs.readFile(f.path.join(dir, s.file)).pipe(Effect.mapError(ioError(f, name)))
      if (j.checksums[s.file] !== (yield* sha256(bytes))) return yield* libraryError(f, name, `checksum mismatch for ${s.file}`)
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

/** One seed's tensors from the bytes of its (checked) file. */
const decodeSeed = (f: Folder, name: string, s: EntryJson["seeds"][number], bytes: Uint8Array) =>
  Effect.gen(function* () {
    const st = yield* Effect.fromResult(decodeSafetensors(bytes, f.path.join(entryDir(f, name), s.file))).pipe(
      Effect.mapError((e) => libraryError(f, name, e.message)),
    )
    const t = (k: string) => st.tensors.get(k) as HostTensor<"f32"> | undefined
    const source = t("source")
    if (!source) return yield* libraryError(f, name, `${s.file} has no source prompt`)
    const embedding = t("embedding")
    const decoderRows = t("decoder_rows")
    return {
      seed: s.seed,
      source,
      ...(embedding ? { embedding } : {}),
      ...(decoderRows ? { decoderRows } : {}),
      metrics: s.metrics ?? {},
      provenance: s.provenance ?? {},
    } satisfies SeedRecord
  })

/** The whole entry `name`, every file checked. */
export const getEntry = (f: Folder, name: string) =>
  Effect.gen(function* () {
    yield* readyLibrary(f)
    yield* Effect.fromResult(validateName(f.root, name))
    if (!(yield* entryExists(f, name))) return yield* libraryError(f, name, "no such entry")
    const j = yield* readEntryJson(f, name)
    const seeds: SeedRecord[] = []
    for (const { seed, bytes } of yield* verifySeeds(f, name, j)) seeds.push(yield* decodeSeed(f, name, seed, bytes))
    const entry: LibraryEntry = { ...metaOf(j), seeds }
    return yield* Effect.fromResult(validateEntry(f.root, entry))
  })

/** Every complete entry's metadata; a damaged one (unreadable, a checksum off) is listed apart with why. */
export const listEntries = (f: Folder) =>
  Effect.gen(function* () {
    yield* readyLibrary(f)
    const names = (yield* f.fs.readDirectory(f.entriesDir).pipe(Effect.mapError(ioError(f, "(library)"))))
      .filter((n) => !n.startsWith("."))
      .sort()
    const entries: EntryMeta[] = []
    const damaged: Array<{ name: string; reason: string }> = []
    for (const name of names) {
      if (!(yield* entryExists(f, name))) continue // never completed
      const r = yield* Effect.result(
        readEntryJson(f, name).pipe(
          Effect.tap((j) => verifySeeds(f, name, j)),
          Effect.map(metaOf),
        ),
      )
      if (Result.isSuccess(r)) entries.push(r.success)
      else damaged.push({ name, reason: r.failure.message })
    }
    return { entries, damaged } satisfies Listing
  })

/**
 * Writes `entry` over `old` (its checked entry.json, or undefined for a new entry): the seeds of
 * `entry` replace those of `old` with the same seed, the others are kept. Runs under the lock.
 */
export const writeEntry = (f: Folder, entry: LibraryEntry, old: EntryJson | undefined) =>
  Effect.gen(function* () {
    const dir = entryDir(f, entry.name)
    yield* f.fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError(ioError(f, entry.name)))
    const replaced = new Set(entry.seeds.map((s) => s.seed))
    const kept = (old?.seeds ?? []).filter((s) => !replaced.has(s.seed))
    const checksums: Record<string, string> = {}
    for (const s of kept) checksums[s.file] = old?.checksums[s.file] ?? ""
    const added: EntryJson["seeds"] = []
    for (const s of entry.seeds) {
      const bytes = encodeSafetensors(seedTensors(s))
      const file = `seed-${s.seed}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.safetensors`
      yield* writeAtomic(f, f.path.join(dir, file), bytes).pipe(Effect.mapError(ioError(f, entry.name)))
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
    yield* writeAtomic(f, entryJsonFile(f, entry.name), new TextEncoder().encode(`${JSON.stringify(json, null, 2)}\n`)).pipe(
      Effect.mapError(ioError(f, entry.name)),
    )
    for (const s of old?.seeds ?? []) if (replaced.has(s.seed)) yield* f.fs.remove(f.path.join(dir, s.file)).pipe(Effect.ignore)
  })

/** Removes the folder of entry `name`, entry.json first. Runs under the lock. */
export const removeEntryFiles = (f: Folder, name: string) =>
  Effect.gen(function* () {
    const dir = entryDir(f, name)
    if (!(yield* fileExists(f, dir))) return yield* libraryError(f, name, "no such entry")
    // entry.json first: from then on the entry is gone even if removal of the rest is interrupted
    yield* f.fs.remove(entryJsonFile(f, name)).pipe(Effect.ignore)
    yield* f.fs.remove(dir, { recursive: true }).pipe(Effect.mapError(ioError(f, name)))
  })
