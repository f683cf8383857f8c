/**
 * The directory store's folder: its paths, its typed errors, opening it (readers: nothing is
 * created), creating it (writers, `library init`) and holding its writer lock. `Folder` carries
 * what every function of the store needs, so that they are plain top-level functions.
 */
import { Effect, FileSystem, type Path } from "effect"
import { LibraryError } from "../errors.ts"
import { writeFileAtomic } from "../graph/safetensors.ts"
import { describeIo } from "./io.ts"
import { type LockOwner, withLock } from "./lock.ts"
import { FORMAT, parseLibraryJson } from "./manifest.ts"

export interface DirectoryOptions {
  readonly staleMs?: number
  readonly lockTimeoutMs?: number
  readonly heartbeatMs?: number
  /** Create the library when it does not exist (`library init`, writers); readers never create files. */
  readonly create?: boolean
  readonly owner?: LockOwner
}

/** One open directory store: its root, the platform services and options, and its fixed paths. */
export interface Folder {
  readonly root: string
  readonly fs: FileSystem.FileSystem
  readonly path: Path.Path
  readonly options: DirectoryOptions
  readonly entriesDir: string
  readonly lockFile: string
  /** `library.json`, whose presence makes the folder a library. */
  readonly marker: string
  readonly indexFile: string
}

export const makeFolder = (root: string, fs: FileSystem.FileSystem, path: Path.Path, options: DirectoryOptions): Folder => ({
  root,
  fs,
  path,
  options,
  entriesDir: path.join(root, "entries"),
  lockFile: path.join(root, ".lock"),
  marker: path.join(root, "library.json"),
  indexFile: path.join(root, "index.safetensors"),
})

/** A typed error naming the library and the entry (or `(library)`, `(index)`). */
export const libraryError = (f: Folder, entry: string, message: string) => new LibraryError({ library: f.root, entry, message })

/** Maps a platform failure to a `LibraryError` that says what it is (ENOSPC, EROFS, …) and where. */
export const ioError = (f: Folder, entry: string) => (e: unknown) => libraryError(f, entry, describeIo(e))

export const entryDir = (f: Folder, name: string) => f.path.join(f.entriesDir, name)

/** Writes to a temp file and renames it over `file`. */
export const writeAtomic = (f: Folder, file: string, bytes: Uint8Array) =>
  writeFileAtomic(file, bytes).pipe(Effect.provideService(FileSystem.FileSystem, f.fs))

export const fileExists = (f: Folder, file: string) => f.fs.exists(file).pipe(Effect.orElseSucceed(() => false))

export const sha256 = (bytes: Uint8Array) =>
  Effect.promise(async () => {
    const d = await crypto.subtle.digest("SHA-256", bytes as unknown as ArrayBuffer)
    return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("")
  })

/** Readers: the library must exist (nothing is created). */
export const openLibrary = (f: Folder) =>
  Effect.gen(function* () {
    if (!(yield* fileExists(f, f.marker))) {
      return yield* libraryError(
        f,
        "(library)",
        (yield* fileExists(f, f.root))
          ? `${f.root} is not a prompt library (no library.json); create one with spot library init`
          : `no library at ${f.root}; create one with spot library init`,
      )
    }
    const text = yield* f.fs.readFileString(f.marker).pipe(Effect.mapError(ioError(f, "(library)")))
    yield* Effect.fromResult(parseLibraryJson(text, f.root))
  })

/** Writers (and `library init`): creates the library when missing. */
export const ensureLibrary = (f: Folder) =>
  Effect.gen(function* () {
    if (yield* fileExists(f, f.marker)) return yield* openLibrary(f)
    yield* f.fs.makeDirectory(f.entriesDir, { recursive: true }).pipe(Effect.mapError(ioError(f, "(library)")))
    yield* writeAtomic(f, f.marker, new TextEncoder().encode(`${JSON.stringify({ format: FORMAT })}\n`)).pipe(
      Effect.mapError(ioError(f, "(library)")),
    )
  })

/** What a read needs first: the library opened, or created when the options ask for it. */
export const readyLibrary = (f: Folder) => (f.options.create ? ensureLibrary(f) : openLibrary(f))

/** Runs `body` holding the library's lock file (see `lock.ts`), creating the library when missing. */
export const withLibraryLock = <A, E>(f: Folder, body: Effect.Effect<A, E>) => {
  const o = f.options
  return ensureLibrary(f).pipe(
    Effect.andThen(
      withLock(f.fs, f.root, f.lockFile, {
        ...(o.staleMs !== undefined ? { staleMs: o.staleMs } : {}),
        ...(o.lockTimeoutMs !== undefined ? { timeoutMs: o.lockTimeoutMs } : {}),
        ...(o.heartbeatMs !== undefined ? { heartbeatMs: o.heartbeatMs } : {}),
        ...(o.owner ? { owner: o.owner } : {}),
      })(body),
    ),
  )
}
