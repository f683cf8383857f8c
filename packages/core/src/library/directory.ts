/**
 * The directory store of the prompt library:
 *
 *     <library>/library.json                     {"format": "spot-library/1"}
 *     <library>/entries/<name>/entry.json        metadata, seeds, sha256 of every file
 *     <library>/entries/<name>/<file>.safetensors one tensor set per seed (source, embedding, decoder rows)
 *     <library>/index.safetensors                the retrieval index (see `directory-index.ts`)
 *
 * Every file is written to a temp name and renamed; entry.json is written last, so a writer killed
 * at any point leaves either the old entry or the new one, never a partial one. Writers in separate
 * processes serialise on a lock file (exclusive create; a lock older than `staleMs` is broken).
 * Checksums are verified on read; a damaged entry is reported by `list` and skipped.
 *
 * This file assembles the store; the folder (opening, creating, the lock) is `directory-folder.ts`,
 * the entries `directory-entries.ts`, the index `directory-index.ts`.
 */
import { Effect, FileSystem, Layer, Path } from "effect"
import {
  entryExists,
  getEntry,
  listEntries,
  readEntryJson,
  removeEntryFiles,
  verifySeeds,
  writeEntry,
} from "./directory-entries.ts"
import { type DirectoryOptions, type Folder, libraryError, makeFolder, openLibrary, withLibraryLock } from "./directory-folder.ts"
import { checkIndexWritable, readOrBuildIndex, updateIndex } from "./directory-index.ts"
import type { LibraryEntry, LibraryStore } from "./library.ts"
import { Library, validateEntry, validateName } from "./library.ts"

export type { DirectoryOptions } from "./directory-folder.ts"
export { FORMAT } from "./manifest.ts"

/** Under the lock: writes `entry`, merged with the stored entry of its name (same model and prompt shape). */
const putLocked = (f: Folder, entry: LibraryEntry) =>
  Effect.gen(function* () {
    yield* checkIndexWritable(f)
    const old = (yield* entryExists(f, entry.name)) ? yield* readEntryJson(f, entry.name) : undefined
    if (old) yield* verifySeeds(f, entry.name, old)
    if (
      old &&
      (old.model.fingerprint !== entry.model.fingerprint ||
        old.promptLength !== entry.promptLength ||
        old.model.dModel !== entry.model.dModel)
    ) {
      return yield* libraryError(f, entry.name, "an entry of that name exists for another model or prompt shape; remove it first")
    }
    yield* writeEntry(f, entry, old)
    yield* updateIndex(f, entry.name, yield* getEntry(f, entry.name))
  })

const put = (f: Folder, entry: LibraryEntry) =>
  Effect.gen(function* () {
    // everything is validated before the library (or anything in it) is created or changed
    yield* Effect.fromResult(validateName(f.root, entry.name))
    yield* Effect.fromResult(validateEntry(f.root, entry))
    return yield* withLibraryLock(f, putLocked(f, entry))
  })

const remove = (f: Folder, name: string) =>
  Effect.gen(function* () {
    yield* Effect.fromResult(validateName(f.root, name))
    yield* openLibrary(f) // removing from a library that does not exist creates nothing
    return yield* withLibraryLock(
      f,
      Effect.gen(function* () {
        yield* checkIndexWritable(f)
        yield* removeEntryFiles(f, name)
        yield* updateIndex(f, name, undefined)
      }),
    )
  })

export const makeDirectoryLibrary = (root: string, o: DirectoryOptions = {}) =>
  Effect.gen(function* () {
    const f = makeFolder(root, yield* FileSystem.FileSystem, yield* Path.Path, o)
    return {
      location: root,
      list: listEntries(f),
      get: (name: string) => getEntry(f, name),
      put: (entry: LibraryEntry) => put(f, entry),
      remove: (name: string) => remove(f, name),
      index: readOrBuildIndex(f),
    } satisfies LibraryStore
  })

export const DirectoryLibrary = {
  layer: (root: string, o: DirectoryOptions = {}) => Layer.effect(Library, makeDirectoryLibrary(root, o)),
}
