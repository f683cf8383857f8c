/**
 * The directory store's writer lock: `<library>/.lock`, created exclusively, holding its owner
 * (`{pid, host, token, since}`) and kept fresh by a heartbeat (its mtime is touched every
 * `heartbeatMs`). Only "already exists" means the lock is held; any other failure to create it
 * (EACCES, EROFS, ENOSPC, ENOTDIR, a `.lock` that is a directory, …) is reported at once as what it
 * is, with the path. A lock whose owner is a dead process on this host, or whose heartbeat is older
 * than `staleMs`, is broken at once.
 */
import { Effect, Fiber, type FileSystem, Result } from "effect"
import { LibraryError } from "../errors.ts"
import { describeIo, errnoOf } from "./io.ts"

export interface LockOwner {
  readonly pid: number
  readonly host: string
  /** Whether a process of this host with that pid is running; absent: unknown (only the heartbeat age counts). */
  readonly alive?: (pid: number) => boolean
}

export interface LockOptions {
  readonly staleMs?: number
  readonly timeoutMs?: number
  readonly heartbeatMs?: number
  readonly owner?: LockOwner
}

interface NodeLikeProcess {
  pid?: number
  env?: Record<string, string | undefined>
  kill?: (pid: number, signal: number) => void
}

/** This process as a lock owner, where the runtime exposes `process` (Node, Bun, Deno); else unknown. */
export const currentOwner = (): LockOwner => {
  const p = (globalThis as { process?: NodeLikeProcess }).process
  return {
    pid: typeof p?.pid === "number" ? p.pid : -1,
    host: p?.env?.HOSTNAME ?? p?.env?.COMPUTERNAME ?? "localhost",
    ...(p?.kill
      ? {
          alive: (pid: number) => {
            try {
              p.kill?.(pid, 0)
              return true
            } catch (e) {
              return (e as { code?: string }).code === "EPERM" // exists, owned by someone else
            }
          },
        }
      : {}),
  }
}

interface LockJson {
  pid?: unknown
  host?: unknown
  token?: unknown
  since?: unknown
}

/** Runs `body` holding the lock file `lockFile` of `library`. */
export const withLock =
  (fs: FileSystem.FileSystem, library: string, lockFile: string, o: LockOptions = {}) =>
  <A, E, R>(body: Effect.Effect<A, E, R>): Effect.Effect<A, E | LibraryError, R> =>
    Effect.gen(function* () {
      const staleMs = o.staleMs ?? 30_000
      const timeoutMs = o.timeoutMs ?? 60_000
      const heartbeatMs = o.heartbeatMs ?? Math.max(50, Math.floor(staleMs / 3))
      const owner = o.owner ?? currentOwner()
      const token = `${owner.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`
      const fail = (message: string) => new LibraryError({ library, entry: "(lock)", message })
      const deadline = Date.now() + timeoutMs
      let holder = ""
      for (let attempt = 0; ; attempt++) {
        const body = JSON.stringify({ pid: owner.pid, host: owner.host, token, since: new Date().toISOString() })
        const created = yield* Effect.result(fs.writeFileString(lockFile, `${body}\n`, { flag: "wx" }))
        if (Result.isSuccess(created)) break
        const code = errnoOf(created.failure)
        if (code !== "EEXIST" && created.failure.reason._tag !== "AlreadyExists")
          return yield* fail(`cannot create the lock file: ${describeIo(created.failure)}`)
        const info = yield* Effect.result(fs.stat(lockFile))
        if (Result.isFailure(info)) continue // released meanwhile
        if (info.success.type !== "File")
          return yield* fail(`${lockFile} is a ${info.success.type.toLowerCase()}, not a lock file`)
        const text = yield* fs.readFileString(lockFile).pipe(Effect.orElseSucceed(() => ""))
        let j: LockJson = {}
        try {
          const parsed = JSON.parse(text) as unknown
          if (typeof parsed === "object" && parsed !== null) j = parsed as LockJson
        } catch {
          // an old-style or half-written lock: only its age counts
        }
        const mtime = info.success.mtime._tag === "Some" ? info.success.mtime.value.getTime() : Date.now()
        const age = Date.now() - mtime
        const deadOwner =
          j.host === owner.host && typeof j.pid === "number" && j.pid !== owner.pid && owner.alive?.(j.pid) === false
        holder = typeof j.pid === "number" ? `pid ${j.pid} on ${String(j.host)} since ${String(j.since)}` : "an unknown writer"
        if (deadOwner || age > staleMs) {
          yield* fs.remove(lockFile).pipe(Effect.ignore)
          continue
        }
        if (Date.now() > deadline)
          return yield* fail(`${lockFile} is held by ${holder} (heartbeat ${age} ms ago); gave up after ${timeoutMs} ms`)
        yield* Effect.sleep(5 + Math.min(100, attempt * 5) * Math.random())
      }
      const heartbeat = yield* Effect.forkDetach(
        Effect.forever(
          Effect.sleep(heartbeatMs).pipe(Effect.andThen(fs.utimes(lockFile, new Date(), new Date()).pipe(Effect.ignore))),
        ),
      )
      const release = Effect.gen(function* () {
        yield* Fiber.interrupt(heartbeat)
        const text = yield* fs.readFileString(lockFile).pipe(Effect.orElseSucceed(() => ""))
        if (text.includes(token)) yield* fs.remove(lockFile).pipe(Effect.ignore)
      })
      return yield* body.pipe(Effect.ensuring(release))
    })
