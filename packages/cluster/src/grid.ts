/**
 * A grid of cells on Effect Cluster + Workflow, with PostgreSQL as the message and runner storage.
 *
 * - `GridCell` is a durable workflow per cell (execution id = study + cell key), so cells are sharded
 *   across every worker (runner) of the cluster; its one activity does the cell's work on that worker
 *   and records the result in `spot_grid_cell` (primary key (study, key): recorded once, whatever
 *   crashes) and every attempt in `spot_grid_attempt` (started, finished).
 * - A study's (or transfer's) spec — options and task data, the same for all its cells — is stored once
 *   in `spot_grid_spec` by the submitter; a cell carries only the study id, its key and its own spec.
 * - A worker computes at most `concurrency` cells at a time (default 1: one backend, one cell), the
 *   others wait for a permit.
 * - Workers (`spot worker`) are full runners that register the cell workflow with their own
 *   `CellWork` (the model and backend they hold). A submitter is a client-only runner.
 * - A cell whose model fingerprint differs from the worker's is refused by that worker (typed
 *   `CellRefused`, retried elsewhere) and never computed with the wrong model.
 */
import { NodeClusterSocket, NodeCrypto } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Context, Duration, Effect, Layer, Option, Redacted, Schema, Semaphore } from "effect"
import { ClusterWorkflowEngine, RunnerAddress, ShardingConfig, SqlMessageStorage, SqlRunnerStorage } from "effect/cluster"
import { SqlClient } from "effect/sql"
import { Activity, Workflow, type WorkflowEngine } from "effect/workflow"

/** What a cell returns: a score and optional tensors (safetensors bytes: prompt, embedding). */
export const CellResult = Schema.Struct({
  score: Schema.Number,
  tensors: Schema.optional(Schema.Uint8Array),
})
export type CellResult = typeof CellResult.Type

export class CellFailed extends Schema.TaggedError<CellFailed>()("CellFailed", {
  study: Schema.String,
  key: Schema.String,
  message: Schema.String,
}) {}

export const CellPayload = Schema.Struct({
  /** The study (or transfer run) this cell belongs to. */
  study: Schema.String,
  key: Schema.String,
  /** The model the cell must run on (fingerprint); workers of another model refuse it. */
  fingerprint: Schema.String,
  /** What this cell computes (JSON, e.g. a study's `CellSpec`); empty for cells that need none. */
  cell: Schema.optional(Schema.String),
  /** Tensors the cell starts from (safetensors bytes: a transfer run's init prompts). */
  tensors: Schema.optional(Schema.Uint8Array),
})
export type CellPayload = typeof CellPayload.Type

export const GridCell = Workflow.make("spot/GridCell", {
  payload: CellPayload,
  success: CellResult,
  error: CellFailed,
  idempotencyKey: (p) => `${p.study}/${p.key}`,
})

/** What a cell can read besides its payload. */
export interface CellInputs {
  /** The spec of the cell's study, as the submitter stored it (`putSpec`). */
  readonly spec: Effect.Effect<string, CellFailed>
  /** Another, already recorded cell's result: a study's transfer cell reads its source prompt this way. */
  readonly lookup: (key: string) => Effect.Effect<CellResult, CellFailed>
}

/** How a worker computes a cell. */
export interface CellWorkShape {
  readonly fingerprint: string
  readonly worker: string
  readonly run: (cell: CellPayload, inputs: CellInputs) => Effect.Effect<CellResult, CellFailed>
}
export class CellWork extends Context.Service<CellWork, CellWorkShape>()("@spot/cluster/CellWork") {}

/**
 * The tables that record specs, cells and attempts (idempotent: safe to run on every start; one
 * process at a time, under an advisory lock, since concurrent `CREATE TABLE IF NOT EXISTS` can collide).
 */
export const ensureTables = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql.withTransaction(
    Effect.gen(function* () {
      yield* sql`SELECT pg_advisory_xact_lock(${0x5907_6c15})`
      yield* sql`CREATE TABLE IF NOT EXISTS spot_grid_spec (study text PRIMARY KEY, spec text NOT NULL,
        stored timestamptz NOT NULL DEFAULT now())`
      yield* sql`CREATE TABLE IF NOT EXISTS spot_grid_cell (
        study text NOT NULL, key text NOT NULL, score double precision NOT NULL, tensors bytea,
        worker text NOT NULL, recorded timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (study, key))`
      yield* sql`CREATE TABLE IF NOT EXISTS spot_grid_attempt (
        id bigserial PRIMARY KEY, study text NOT NULL, key text NOT NULL, worker text NOT NULL,
        started timestamptz NOT NULL DEFAULT now())`
      yield* sql`ALTER TABLE spot_grid_attempt ADD COLUMN IF NOT EXISTS finished timestamptz`
    }),
  )
})

/**
 * Stores a study's spec once (before its cells are submitted). The study id is a hash of the spec and
 * the model, so a stored row with this id holds this spec: storing again changes nothing.
 */
export const putSpec = (study: string, spec: string) =>
  Effect.gen(function* () {
    yield* ensureTables
    const sql = yield* SqlClient.SqlClient
    yield* sql`INSERT INTO spot_grid_spec (study, spec) VALUES (${study}, ${spec}) ON CONFLICT (study) DO NOTHING`
  })

/** A study's stored spec, if any. */
export const readSpec = (study: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ spec: string }>`SELECT spec FROM spot_grid_spec WHERE study = ${study}`
    return Option.fromNullishOr(rows[0]?.spec)
  })

/** Cells recorded so far for a study, and attempts started (more attempts than cells = retries). */
export const progress = (study: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const cells = yield* sql<{ n: string }>`SELECT count(*) AS n FROM spot_grid_cell WHERE study = ${study}`
    const attempts = yield* sql<{ n: string }>`SELECT count(*) AS n FROM spot_grid_attempt WHERE study = ${study}`
    const byWorker = yield* sql<{ worker: string; n: string }>`SELECT worker, count(*) AS n FROM spot_grid_cell
      WHERE study = ${study} GROUP BY worker ORDER BY worker`
    return {
      cells: Number(cells[0]?.n ?? 0),
      attempts: Number(attempts[0]?.n ?? 0),
      byWorker: Object.fromEntries(byWorker.map((r) => [r.worker, Number(r.n)])),
    }
  })

/** Workers of a model's cluster alive now: runners whose heartbeat is at most `seconds` old. */
export const liveWorkers = (fingerprint: string, seconds = 30) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ n: string }>`SELECT count(*) AS n FROM ${sql(`${clusterPrefix(fingerprint)}_runners`)}
      WHERE last_heartbeat > now() - make_interval(secs => ${seconds})`
    return Number(rows[0]?.n ?? 0)
  }).pipe(Effect.orElseSucceed(() => 0))

/** What a waiting submitter is told: cells recorded of `total`, and whether any worker can run them. */
export interface WaitStatus {
  readonly cells: number
  readonly total: number
  readonly workers: number
}

/** The line a waiting submitter prints; it says what to start when no worker of the model is alive. */
export const waitLine = (s: WaitStatus, fingerprint: string) =>
  s.workers === 0
    ? `waiting: ${s.cells}/${s.total} cells recorded and no worker of model ${fingerprint} is running; start one with \`spot worker --cluster <url> --model <the same model>\``
    : `waiting: ${s.cells}/${s.total} cells recorded, ${s.workers} worker${s.workers === 1 ? "" : "s"} of the model alive`

/**
 * Reports a submitter's wait every `every` until interrupted (fork it beside the wait): so a study or
 * transfer with no worker to run it says so instead of waiting in silence.
 */
export const watch = (
  study: string,
  fingerprint: string,
  total: number,
  report: (s: WaitStatus) => Effect.Effect<void>,
  every: Duration.Input = Duration.seconds(10),
) =>
  Effect.gen(function* () {
    for (;;) {
      yield* Effect.sleep(every)
      const p = yield* progress(study).pipe(Effect.orElseSucceed(() => ({ cells: 0 })))
      yield* report({ cells: p.cells, total, workers: yield* liveWorkers(fingerprint) })
    }
  })

/** Runs `work` (a submitter's wait for its cells) while `watch` reports on it; the report ends with the work. */
export const whileWatching = <A, E, R>(
  work: Effect.Effect<A, E, R>,
  w: {
    readonly study: string
    readonly fingerprint: string
    readonly total: number
    readonly report?: ((s: WaitStatus) => Effect.Effect<void>) | undefined
  },
) => (w.report ? Effect.raceFirst(work, watch(w.study, w.fingerprint, w.total, w.report)) : work)

/** A recorded cell, if any (a retried activity returns it instead of computing again). */
const recorded = (study: string, key: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ score: number; tensors: Uint8Array | null }>`SELECT score, tensors FROM spot_grid_cell
      WHERE study = ${study} AND key = ${key}`
    const r = rows[0]
    return r ? Option.some<CellResult>({ score: r.score, ...(r.tensors ? { tensors: r.tensors } : {}) }) : Option.none()
  })

const failed = (cell: CellPayload, message: string) => new CellFailed({ study: cell.study, key: cell.key, message })

/**
 * The workflow's handler on a worker: one activity that computes (or finds) the cell and records it,
 * at most `concurrency` cells at a time on this worker.
 */
export const gridCellLayer = (concurrency: number) =>
  Layer.unwrap(Effect.map(Semaphore.make(Math.max(1, concurrency)), (permits) => cellHandler(permits)))

const cellHandler = (permits: Semaphore.Semaphore) =>
  GridCell.toLayer((cell) =>
    Effect.gen(function* () {
      const work = yield* CellWork
      const sql = yield* SqlClient.SqlClient
      // phases run in order, so a cell's inputs (a transfer's source prompt) are recorded before it starts
      const lookup = (key: string) =>
        recorded(cell.study, key).pipe(
          Effect.orDie,
          Effect.flatMap((r) =>
            Option.isSome(r) ? Effect.succeed(r.value) : Effect.fail(failed(cell, `input cell ${key} is not recorded yet`)),
          ),
          Effect.provideService(SqlClient.SqlClient, sql),
        )
      const spec = readSpec(cell.study).pipe(
        Effect.orDie,
        Effect.flatMap((s) =>
          Option.isSome(s) ? Effect.succeed(s.value) : Effect.fail(failed(cell, `the spec of ${cell.study} is not stored`)),
        ),
        Effect.provideService(SqlClient.SqlClient, sql),
      )
      // one attempt: recorded with its start and end (whatever the outcome), the cell's result once
      const attempt = Effect.gen(function* () {
        // recorded by another worker while this one waited for a permit
        const done = yield* recorded(cell.study, cell.key).pipe(Effect.orDie)
        if (Option.isSome(done)) return done.value
        const rows = yield* sql<{ id: string }>`INSERT INTO spot_grid_attempt (study, key, worker)
        VALUES (${cell.study}, ${cell.key}, ${work.worker}) RETURNING id`.pipe(Effect.orDie)
        const id = rows[0]?.id ?? "0"
        const r = yield* work
          .run(cell, { spec, lookup })
          .pipe(Effect.ensuring(Effect.ignore(sql`UPDATE spot_grid_attempt SET finished = now() WHERE id = ${id}`)))
        yield* sql`INSERT INTO spot_grid_cell (study, key, score, tensors, worker)
        VALUES (${cell.study}, ${cell.key}, ${r.score}, ${r.tensors ?? null}, ${work.worker})
        ON CONFLICT (study, key) DO NOTHING`.pipe(Effect.orDie)
        return r
      })
      return yield* Activity.make({
        name: "compute",
        success: CellResult,
        error: CellFailed,
        execute: Effect.gen(function* () {
          const done = yield* recorded(cell.study, cell.key).pipe(Effect.orDie)
          if (Option.isSome(done)) return done.value
          if (cell.fingerprint !== work.fingerprint) {
            return yield* failed(
              cell,
              `worker ${work.worker} holds model ${work.fingerprint}, the cell needs ${cell.fingerprint}`,
            )
          }
          const r = yield* permits.withPermits(1)(attempt)
          // the first record wins: every reader sees the same result for a cell
          const kept = yield* recorded(cell.study, cell.key).pipe(Effect.orDie)
          return Option.getOrElse(kept, () => r)
        }),
      }).pipe(Activity.retry({ times: 3 }))
    }),
  )

export interface ClusterOptions {
  /** postgres://… of the cluster's database (message storage, runner storage, cell records). */
  readonly url: string
  /**
   * The model every runner of this cluster holds (fingerprint). Each model is its own cluster (its own
   * storage tables) in the one database, so a worker never receives a cell of another model.
   */
  readonly fingerprint: string
  /** A worker's address that other runners reach it at; absent: a client that only submits. */
  readonly runner?: { readonly host: string; readonly port: number } | undefined
  /** Faster failure detection for tests (shard lock expiry). */
  readonly shardLockExpiration?: Duration.Input
}

/** The database client: the cluster's storage and the cell records. */
export const sqlLayer = (url: string) => PgClient.layer({ url: Redacted.make(url), maxConnections: 8 })

/** Sharding over sockets with SQL storage, and the workflow engine on top. */
export const engineLayer = (o: ClusterOptions) => {
  const shardingConfig: Partial<ShardingConfig.ShardingConfig["Service"]> = {
    runnerAddress: o.runner ? Option.some(RunnerAddress.make(o.runner.host, o.runner.port)) : Option.none(),
    shardsPerGroup: 16,
    ...(o.shardLockExpiration ? { shardLockExpiration: o.shardLockExpiration } : {}),
    entityMessagePollInterval: Duration.millis(250),
    entityReplyPollInterval: Duration.millis(250),
    refreshAssignmentsInterval: Duration.millis(1000),
  }
  const prefix = clusterPrefix(o.fingerprint)
  const storage = Layer.mergeAll(
    SqlMessageStorage.layerWith({ prefix }).pipe(Layer.provide(NodeCrypto.layerDigest)),
    Layer.orDie(SqlRunnerStorage.layerWith({ prefix })),
  ).pipe(Layer.provide(ShardingConfig.layerFromEnv(shardingConfig)))
  const sharding = NodeClusterSocket.layer({ storage: "byo", clientOnly: o.runner === undefined, shardingConfig })
  return ClusterWorkflowEngine.layer.pipe(Layer.provideMerge(sharding), Layer.provideMerge(storage))
}

/** The storage-table prefix of the cluster of one model. */
export const clusterPrefix = (fingerprint: string) => `spot_${fingerprint.replace(/[^A-Za-z0-9]/g, "_").toLowerCase()}`

/** A worker: a runner that computes cells with `work`, `concurrency` at a time (default 1). Runs until interrupted. */
export const workerLayer = (
  o: ClusterOptions & { readonly runner: { host: string; port: number }; readonly concurrency?: number },
) =>
  gridCellLayer(o.concurrency ?? 1).pipe(
    Layer.provideMerge(engineLayer(o)),
    Layer.provideMerge(Layer.effectDiscard(ensureTables)),
  )

/** A submitter: a client-only runner of the model's cluster, and the database client. */
export const clientLayer = (url: string, fingerprint: string) =>
  engineLayer({ url, fingerprint }).pipe(Layer.provideMerge(sqlLayer(url)))

/** Runs one cell of a study on the cluster and waits for its result. */
export const executeCell = (cell: CellPayload): Effect.Effect<CellResult, CellFailed, WorkflowEngine.WorkflowEngine> =>
  GridCell.execute(cell)
