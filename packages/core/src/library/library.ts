/**
 * The prompt library: entries keyed by task, each holding per training seed a source prompt (best
 * checkpoint) and a task embedding (early checkpoint), plus metrics and provenance. A retrieval
 * candidate is a (task, seed) pair. `Library` is a service so that a database or object store can
 * replace the directory store (`DirectoryLibrary.layer`).
 */
import { Context, type Effect, Result } from "effect"
import { LibraryError } from "../errors.ts"
import type { HostTensor } from "../graph/tensor.ts"
import type { RetrievalIndex } from "../spot/search.ts"
import type { ModelKey } from "../t5/checkpoint.ts"

export interface SeedRecord {
  readonly seed: number
  /** Source prompt (best checkpoint) [L, d]. */
  readonly source: HostTensor<"f32">
  /** Task embedding (early checkpoint) [L, d], trained from the init shared by every task at this seed. */
  readonly embedding?: HostTensor<"f32">
  /** PEFT decoder rows [L, d] (adapters with two submodules), kept so that export writes them back. */
  readonly decoderRows?: HostTensor<"f32">
  readonly metrics: Readonly<Record<string, number>>
  readonly provenance: Readonly<Record<string, string>>
}

export interface EntryMeta {
  readonly name: string
  readonly task: string
  readonly description: string
  readonly model: ModelKey
  readonly promptLength: number
  readonly seeds: readonly number[]
  readonly created: string
}

export interface LibraryEntry extends Omit<EntryMeta, "seeds"> {
  readonly seeds: readonly SeedRecord[]
}

/** The tensors of a seed's file or row: `source`, and `embedding`, `decoder_rows` where present. */
export const seedTensors = (s: SeedRecord): Record<string, HostTensor> => ({
  source: s.source,
  ...(s.embedding ? { embedding: s.embedding } : {}),
  ...(s.decoderRows ? { decoder_rows: s.decoderRows } : {}),
})

/** The retrieval-index rows of an entry: one for each seed that has a task embedding. */
export const indexItems = (entry: LibraryEntry): Array<{ row: RetrievalIndex["rows"][number]; embedding: HostTensor<"f32"> }> =>
  entry.seeds.flatMap((s) =>
    s.embedding
      ? [
          {
            row: {
              entry: entry.name,
              task: entry.task,
              seed: s.seed,
              fingerprint: entry.model.fingerprint,
              promptLength: entry.promptLength,
            },
            embedding: s.embedding,
          },
        ]
      : [],
  )

export interface Listing {
  readonly entries: readonly EntryMeta[]
  /** Entries that could not be read (damaged manifest, checksum mismatch, …), with the reason. */
  readonly damaged: ReadonlyArray<{ readonly name: string; readonly reason: string }>
}

export interface LibraryStore {
  readonly location: string
  readonly list: Effect.Effect<Listing, LibraryError>
  readonly get: (name: string) => Effect.Effect<LibraryEntry, LibraryError>
  /** Adds an entry, or merges its seeds into the existing entry of that name (same model and shape). */
  readonly put: (entry: LibraryEntry) => Effect.Effect<void, LibraryError>
  readonly remove: (name: string) => Effect.Effect<void, LibraryError>
  /** The retrieval index: per (entry, seed) candidate, the similarity summaries of its task embedding. */
  readonly index: Effect.Effect<RetrievalIndex, LibraryError>
}

export class Library extends Context.Service<Library, LibraryStore>()("@spot/core/Library") {}

export const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

export const validateName = (library: string, name: string): Result.Result<string, LibraryError> =>
  NAME.test(name) && !name.includes("..")
    ? Result.succeed(name)
    : Result.fail(
        new LibraryError({
          library,
          entry: name,
          message: "entry names are 1-128 characters of letters, digits, '.', '_', '-', starting with a letter or digit",
        }),
      )

/** Checks an entry's tensors against its own metadata. */
export const validateEntry = (library: string, e: LibraryEntry): Result.Result<LibraryEntry, LibraryError> => {
  const fail = (message: string) => Result.fail(new LibraryError({ library, entry: e.name, message }))
  if (!Number.isSafeInteger(e.promptLength) || e.promptLength <= 0)
    return fail(`prompt length ${e.promptLength} is not a positive integer`)
  if (!Number.isSafeInteger(e.model.dModel) || e.model.dModel <= 0)
    return fail(`d_model ${e.model.dModel} is not a positive integer`)
  if (e.seeds.length === 0) return fail("an entry needs at least one seed")
  if (e.seeds.some((s) => !Number.isSafeInteger(s.seed))) return fail("seeds must be integers")
  if (new Set(e.seeds.map((s) => s.seed)).size !== e.seeds.length) return fail("seeds must be distinct")
  for (const s of e.seeds) {
    for (const [what, t] of [
      ["source", s.source],
      ["embedding", s.embedding],
      ["decoder rows", s.decoderRows],
    ] as const) {
      if (!t) continue
      if (t.shape.length !== 2 || t.shape[0] !== e.promptLength || t.shape[1] !== e.model.dModel) {
        return fail(`seed ${s.seed} ${what} has shape [${t.shape}], the entry says [${e.promptLength}, ${e.model.dModel}]`)
      }
      if (!t.data.every(Number.isFinite)) return fail(`seed ${s.seed} ${what} has non-finite values`)
    }
  }
  return Result.succeed(e)
}

/** Fails unless the entry was made for this model. */
export const checkCompatible = (library: string, e: EntryMeta, model: ModelKey): Result.Result<EntryMeta, LibraryError> =>
  e.model.fingerprint === model.fingerprint && e.model.dModel === model.dModel
    ? Result.succeed(e)
    : Result.fail(
        new LibraryError({
          library,
          entry: e.name,
          message: `made for model ${e.model.fingerprint} (d_model ${e.model.dModel}), not for this model ${model.fingerprint} (d_model ${model.dModel})`,
        }),
      )
