/**
 * Which prompt-library store a `--library` value names: a `postgres://…[?library=name]` URL selects
 * the PostgreSQL store (`@spot/cluster`), anything else is a folder (the embedded default).
 */
import { PgLibrary, PostgresLibrary } from "@spot/cluster"
import { DirectoryLibrary } from "@spot/core"
import { Effect } from "effect"

export interface StoreOptions {
  /** Writers create a missing library; readers never do. */
  readonly create?: boolean
}

export const libraryLayer = (location: string, o: StoreOptions = {}) =>
  PgLibrary.isPostgresUrl(location)
    ? PostgresLibrary.layer(location, { create: o.create ?? false })
    : DirectoryLibrary.layer(location, { create: o.create ?? false })

/** Provides the `Library` service that `location` names. */
export const withLibrary = (location: string, o: StoreOptions = {}) => Effect.provide(libraryLayer(location, o))
