/**
 * Which prompt-library store a `--library` value names: a `postgres://…[?library=name]` URL selects
 * the PostgreSQL store (`@spot/cluster`), anything else is a folder (the embedded default).
 */
import { hostname } from "node:os"
import { PgLibrary, PostgresLibrary } from "@spot/cluster"
import { DirectoryLibrary } from "@spot/core"
import { Effect } from "effect"

export interface StoreOptions {
  /** Writers create a missing library; readers never do. */
  readonly create?: boolean
}

/**
 * This process as the owner of a folder library's lock: the machine's real host name (the core's
 * default reads `$HOSTNAME`, which shells do not export, and would call every machine "localhost",
 * so that a writer on another machine sharing the folder could look dead here and lose its lock).
 */
export const lockOwner = () => ({
  pid: process.pid,
  host: hostname(),
  alive: (pid: number) => {
    try {
      process.kill(pid, 0)
      return true
    } catch (e) {
      return (e as { code?: string }).code === "EPERM" // exists, owned by someone else
    }
  },
})

export const libraryLayer = (location: string, o: StoreOptions = {}) =>
  PgLibrary.isPostgresUrl(location)
    ? PostgresLibrary.layer(location, { create: o.create ?? false })
    : DirectoryLibrary.layer(location, { create: o.create ?? false, owner: lockOwner() })

/** Provides the `Library` service that `location` names. */
export const withLibrary = (location: string, o: StoreOptions = {}) => Effect.provide(libraryLayer(location, o))
