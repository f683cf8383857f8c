/**
 * The prompt library in PostgreSQL: the same `LibraryStore` contract as the directory store, for a
 * library a team shares. One database holds any number of libraries (`?library=name` in the URL,
 * `default` otherwise). Entries, seeds (prompts as `bytea` with a sha256 checksum each) and the
 * retrieval index's summary vectors are written in one transaction, so a reader sees an entry and its
 * index rows together or not at all; a checksum mismatch on read marks the entry damaged.
 */
import { PgClient } from "@effect/sql-pg"
import {
  type EntryMeta,
  type HostTensor,
  Library,
  type LibraryEntry,
  LibraryError,
  PromptLibrary,
  Safetensors,
  Search,
} from "@spot/core"
import { Effect, Layer, Redacted, Result, type Scope } from "effect"
import { Reactivity } from "effect/reactivity"
import { SqlClient, type SqlError } from "effect/sql"

export const FORMAT = "spot-library/1"

/** `postgres://…[?library=name]` → the connection URL (without `library`) and the library name. */
export const parseLibraryUrl = (url: string): Result.Result<{ connection: string; library: string }, LibraryError> => {
  const bad = (message: string) => Result.fail(new LibraryError({ library: url, entry: "(library)", message }))
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return bad("not a valid postgres:// URL")
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") return bad(`expected postgres://, got ${u.protocol}//`)
  const library = u.searchParams.get("library") ?? "default"
  if (!PromptLibrary.NAME.test(library)) return bad(`library name "${library}" is not 1-128 letters, digits, '.', '_', '-'`)
  u.searchParams.delete("library")
  return Result.succeed({ connection: u.toString(), library })
}

/** Where a URL points, for messages: no password. */
export const redactUrl = (url: string) => {
  try {
    const u = new URL(url)
    if (u.password) u.password = "***"
    return u.toString()
  } catch {
    return url
  }
}

export const isPostgresUrl = (s: string) => /^postgres(ql)?:\/\//.test(s)

const sha256 = (bytes: Uint8Array) =>
  Effect.promise(async () => {
    const d = await crypto.subtle.digest("SHA-256", bytes as unknown as ArrayBuffer)
    return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("")
  })

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS spot_library (
     library text PRIMARY KEY, format text NOT NULL, created timestamptz NOT NULL DEFAULT now())`,
  `CREATE TABLE IF NOT EXISTS spot_entry (
     library text NOT NULL REFERENCES spot_library ON DELETE CASCADE, name text NOT NULL, task text NOT NULL,
     description text NOT NULL, fingerprint text NOT NULL, d_model integer NOT NULL, prompt_length integer NOT NULL,
     created text NOT NULL, PRIMARY KEY (library, name))`,
  `CREATE TABLE IF NOT EXISTS spot_seed (
     library text NOT NULL, entry text NOT NULL, seed integer NOT NULL, tensors bytea NOT NULL, checksum text NOT NULL,
     metrics jsonb NOT NULL, provenance jsonb NOT NULL, PRIMARY KEY (library, entry, seed),
     FOREIGN KEY (library, entry) REFERENCES spot_entry ON DELETE CASCADE)`,
  `CREATE TABLE IF NOT EXISTS spot_index (
     library text NOT NULL, entry text NOT NULL, seed integer NOT NULL, metric text NOT NULL, vector bytea NOT NULL,
     PRIMARY KEY (library, entry, seed, metric),
     FOREIGN KEY (library, entry, seed) REFERENCES spot_seed ON DELETE CASCADE)`,
]

export interface PostgresOptions {
  /** Create the tables and the library when missing (writers, `library init`); readers never create. */
  readonly create?: boolean
}

interface EntryRow {
  readonly name: string
  readonly task: string
  readonly description: string
  readonly fingerprint: string
  readonly d_model: number
  readonly prompt_length: number
  readonly created: string
}
interface SeedRow {
  readonly entry: string
  readonly seed: number
  readonly tensors: Uint8Array
  readonly checksum: string
  readonly metrics: Record<string, number>
  readonly provenance: Record<string, string>
}
interface IndexDbRow {
  readonly entry: string
  readonly seed: number
  readonly metric: string
  readonly vector: Uint8Array
  readonly task: string
  readonly fingerprint: string
  readonly d_model: number
  readonly prompt_length: number
}

const f32Bytes = (v: Float32Array) => new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength))
const bytesF32 = (b: Uint8Array) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))

/** Where a store's queries go and how its errors name it. */
interface Ctx {
  readonly library: string
  readonly location: string
}

const errOf = (c: Ctx) => (entry: string, message: string) => new LibraryError({ library: c.location, entry, message })
const dbErrOf = (c: Ctx) => (entry: string) => (e: SqlError.SqlError) =>
  errOf(c)(entry, `PostgreSQL: ${e.message}${causeText(e)}`)

const metaOf = (r: EntryRow, seeds: readonly number[]): EntryMeta => ({
  name: r.name,
  task: r.task,
  description: r.description,
  model: { fingerprint: r.fingerprint, dModel: r.d_model },
  promptLength: r.prompt_length,
  seeds,
  created: r.created,
})

/** Creates the tables and the library when asked, then checks that the library exists in our format. */
const openLibrary = (c: Ctx, create: boolean) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const err = errOf(c)
    const dbErr = dbErrOf(c)
    if (create) {
      yield* Effect.forEach(SCHEMA, (s) => sql.unsafe(s), { discard: true }).pipe(Effect.mapError(dbErr("(library)")))
      yield* sql`INSERT INTO spot_library (library, format) VALUES (${c.library}, ${FORMAT}) ON CONFLICT DO NOTHING`.pipe(
        Effect.mapError(dbErr("(library)")),
      )
    }
    const exists = yield* sql<{ format: string }>`SELECT format FROM spot_library WHERE library = ${c.library}`.pipe(
      Effect.catchTag("SqlError", (e) =>
        /spot_library.*does not exist/.test(causeText(e) + e.message) ? Effect.succeed([]) : Effect.fail(e),
      ),
      Effect.mapError(dbErr("(library)")),
    )
    if (exists.length === 0) return yield* err("(library)", "no such library (create it with `spot library init`)")
    if (exists[0].format !== FORMAT) return yield* err("(library)", `library has format ${exists[0].format}, expected ${FORMAT}`)
  })

const listEntries = (c: Ctx) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const dbErr = dbErrOf(c)
    const entries = yield* sql<EntryRow>`SELECT name, task, description, fingerprint, d_model, prompt_length, created
      FROM spot_entry WHERE library = ${c.library} ORDER BY name`.pipe(Effect.mapError(dbErr("(list)")))
    const seeds = yield* sql<{ entry: string; seed: number }>`SELECT entry, seed FROM spot_seed
      WHERE library = ${c.library} ORDER BY entry, seed`.pipe(Effect.mapError(dbErr("(list)")))
    const by = new Map<string, number[]>()
    for (const s of seeds) by.set(s.entry, [...(by.get(s.entry) ?? []), s.seed])
    return { entries: entries.map((r) => metaOf(r, by.get(r.name) ?? [])), damaged: [] }
  })

const decodeSeed = (c: Ctx, name: string, r: SeedRow) =>
  Effect.gen(function* () {
    const err = errOf(c)
    const sum = yield* sha256(r.tensors)
    if (sum !== r.checksum) return yield* err(name, `seed ${r.seed}: checksum mismatch (stored ${r.checksum}, read ${sum})`)
    const st = Safetensors.decodeSafetensors(r.tensors, `${name}/seed-${r.seed}`)
    if (Result.isFailure(st)) return yield* err(name, `seed ${r.seed}: ${st.failure.message}`)
    const t = (k: string) => st.success.tensors.get(k) as HostTensor<"f32"> | undefined
    const source = t("source")
    if (!source) return yield* err(name, `seed ${r.seed}: no source prompt`)
    const embedding = t("embedding")
    const decoderRows = t("decoder_rows")
    return {
      seed: r.seed,
      source,
      ...(embedding ? { embedding } : {}),
      ...(decoderRows ? { decoderRows } : {}),
      metrics: r.metrics,
      provenance: r.provenance,
    }
  })

const getEntry = (c: Ctx, name: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const dbErr = dbErrOf(c)
    yield* Effect.fromResult(PromptLibrary.validateName(c.location, name))
    const rows = yield* sql<EntryRow>`SELECT name, task, description, fingerprint, d_model, prompt_length, created
      FROM spot_entry WHERE library = ${c.library} AND name = ${name}`.pipe(Effect.mapError(dbErr(name)))
    if (rows.length === 0) return yield* errOf(c)(name, "no such entry")
    const seedRows = yield* sql<SeedRow>`SELECT entry, seed, tensors, checksum, metrics, provenance FROM spot_seed
      WHERE library = ${c.library} AND entry = ${name} ORDER BY seed`.pipe(Effect.mapError(dbErr(name)))
    const seeds = yield* Effect.forEach(seedRows, (r) => decodeSeed(c, name, r))
    const { seeds: _, ...meta } = metaOf(rows[0], [])
    return { ...meta, seeds } satisfies LibraryEntry
  })

/** The entry, its seeds and its index rows in one transaction (the entry row locked while it runs). */
const putEntry = (c: Ctx, entry: LibraryEntry) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const { library } = c
    yield* Effect.fromResult(PromptLibrary.validateName(c.location, entry.name))
    yield* Effect.fromResult(PromptLibrary.validateEntry(c.location, entry))
    const encoded = yield* Effect.forEach(entry.seeds, (s) => {
      const bytes = Safetensors.encodeSafetensors(PromptLibrary.seedTensors(s))
      return Effect.map(sha256(bytes), (checksum) => ({ s, bytes, checksum }))
    })
    const ix = Search.buildIndex(entry.model.dModel, PromptLibrary.indexItems(entry))
    const write = Effect.gen(function* () {
      // the entry row, locked for the rest of the transaction (concurrent writers of one entry queue here)
      yield* sql`INSERT INTO spot_entry (library, name, task, description, fingerprint, d_model, prompt_length, created)
        VALUES (${library}, ${entry.name}, ${entry.task}, ${entry.description}, ${entry.model.fingerprint},
                ${entry.model.dModel}, ${entry.promptLength}, ${entry.created})
        ON CONFLICT (library, name) DO NOTHING`
      const old = yield* sql<EntryRow>`SELECT name, task, description, fingerprint, d_model, prompt_length, created
        FROM spot_entry WHERE library = ${library} AND name = ${entry.name} FOR UPDATE`
      const o0 = old[0]
      if (
        o0.fingerprint !== entry.model.fingerprint ||
        o0.d_model !== entry.model.dModel ||
        o0.prompt_length !== entry.promptLength
      ) {
        return yield* errOf(c)(entry.name, "an entry of that name exists for another model or prompt shape; remove it first")
      }
      for (const { s, bytes, checksum } of encoded) {
        yield* sql`INSERT INTO spot_seed (library, entry, seed, tensors, checksum, metrics, provenance)
          VALUES (${library}, ${entry.name}, ${s.seed}, ${bytes}, ${checksum},
                  ${JSON.stringify(s.metrics)}::jsonb, ${JSON.stringify(s.provenance)}::jsonb)
          ON CONFLICT (library, entry, seed) DO UPDATE SET tensors = EXCLUDED.tensors, checksum = EXCLUDED.checksum,
            metrics = EXCLUDED.metrics, provenance = EXCLUDED.provenance`
        yield* sql`DELETE FROM spot_index WHERE library = ${library} AND entry = ${entry.name} AND seed = ${s.seed}`
      }
      for (const [metric, t] of ix.vectors) {
        for (let i = 0; i < ix.rows.length; i++) {
          const v = t.data.subarray(i * ix.dModel, (i + 1) * ix.dModel)
          yield* sql`INSERT INTO spot_index (library, entry, seed, metric, vector)
            VALUES (${library}, ${entry.name}, ${ix.rows[i].seed}, ${metric}, ${f32Bytes(v)})`
        }
      }
    })
    yield* sql.withTransaction(write).pipe(Effect.catchTag("SqlError", (e) => Effect.fail(dbErrOf(c)(entry.name)(e))))
  })

const removeEntry = (c: Ctx, name: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* Effect.fromResult(PromptLibrary.validateName(c.location, name))
    const gone = yield* sql<{ name: string }>`DELETE FROM spot_entry WHERE library = ${c.library} AND name = ${name}
      RETURNING name`.pipe(Effect.mapError(dbErrOf(c)(name)))
    if (gone.length === 0) return yield* errOf(c)(name, "no such entry")
  })

/** The retrieval index from its rows (one vector per entry, seed and metric). */
const readIndex = (c: Ctx) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<IndexDbRow>`SELECT i.entry, i.seed, i.metric, i.vector, e.task, e.fingerprint, e.d_model,
        e.prompt_length
      FROM spot_index i JOIN spot_entry e ON e.library = i.library AND e.name = i.entry
      WHERE i.library = ${c.library} ORDER BY i.entry, i.seed, i.metric`.pipe(Effect.mapError(dbErrOf(c)("(index)")))
    const dModel = rows[0]?.d_model ?? 0
    const keyed = new Map<string, { row: Search.IndexRow; vectors: Map<string, Float32Array> }>()
    for (const r of rows) {
      if (r.d_model !== dModel) continue
      const key = `${r.entry}\u0000${r.seed}`
      let k = keyed.get(key)
      if (!k) {
        k = {
          row: { entry: r.entry, task: r.task, seed: r.seed, fingerprint: r.fingerprint, promptLength: r.prompt_length },
          vectors: new Map(),
        }
        keyed.set(key, k)
      }
      k.vectors.set(r.metric, bytesF32(r.vector))
    }
    const items = [...keyed.values()]
    const vectors = new Map<string, HostTensor<"f32">>()
    for (const m of Search.INDEX_METRICS) {
      const data = new Float32Array(items.length * dModel)
      items.forEach((it, i) => {
        const v = it.vectors.get(m.name)
        if (v) data.set(v, i * dModel)
      })
      vectors.set(m.name, { dtype: "f32", shape: [items.length, dModel], data })
    }
    return { dModel, rows: items.map((i) => i.row), vectors } satisfies Search.RetrievalIndex
  })

/** A `LibraryStore` over a `SqlClient` already connected to the database. */
export const makeSqlLibrary = (library: string, location: string, o: PostgresOptions = {}) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const c: Ctx = { library, location }
    yield* openLibrary(c, o.create === true)
    const on = <A, E>(e: Effect.Effect<A, E, SqlClient.SqlClient>) => Effect.provideService(e, SqlClient.SqlClient, sql)
    return {
      location,
      list: on(listEntries(c)),
      get: (name: string) => on(getEntry(c, name)),
      put: (entry: LibraryEntry) => on(putEntry(c, entry)),
      remove: (name: string) => on(removeEntry(c, name)),
      index: on(readIndex(c)),
    } satisfies PromptLibrary.LibraryStore
  })

const causeText = (e: SqlError.SqlError) => {
  const c = (e as { cause?: unknown }).cause
  return c instanceof Error ? ` (${c.message})` : ""
}

/** A `LibraryStore` on the PostgreSQL database named by `url` (`postgres://…[?library=name]`). */
export const makePostgresLibrary = (
  url: string,
  o: PostgresOptions = {},
): Effect.Effect<PromptLibrary.LibraryStore, LibraryError, Scope.Scope> =>
  Effect.gen(function* () {
    const { connection, library } = yield* Effect.fromResult(parseLibraryUrl(url))
    const location = redactUrl(url)
    const client = yield* PgClient.make({ url: Redacted.make(connection), maxConnections: 4 }).pipe(
      Effect.mapError((e) => new LibraryError({ library: location, entry: "(library)", message: `PostgreSQL: ${e.message}` })),
    )
    return yield* makeSqlLibrary(library, location, o).pipe(Effect.provideService(SqlClient.SqlClient, client))
  }).pipe(Effect.provide(Reactivity.layer))

export const PostgresLibrary = {
  /** The PostgreSQL store as the core `Library` service; the connection pool closes with the scope. */
  layer: (url: string, o: PostgresOptions = {}) => Layer.effect(Library, makePostgresLibrary(url, o)),
}
