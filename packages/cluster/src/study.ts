/**
 * The transferability study on the cluster. The submitter runs the core study engine
 * (`Study.runStudy`) with a cell store whose `get` executes the cell as a durable `GridCell` workflow
 * and waits for it, so every cell is computed once, by some worker, and the analysis is the core's.
 * A worker computes a cell from its key exactly as the single-machine engine does (`studyCell`).
 */
import { type HostTensor, InputError, Safetensors, Similarity, Spot, Study } from "@spot/core"
import { Effect, type FileSystem, type Path, Result, Schema } from "effect"
import type { WorkflowEngine } from "effect/workflow"
import { type CellFailed, type CellPayload, type CellResult, type CellWorkShape, executeCell } from "./grid.ts"

/** The part of a study every cell needs: options (similarity by name) and how to load task data. */
export const StudySpec = Schema.Struct({
  sources: Schema.Array(Schema.String),
  targets: Schema.Array(Schema.String),
  seeds: Schema.Array(Schema.Number),
  train: Schema.Number,
  valid: Schema.Number,
  sourceSteps: Schema.Number,
  targetSteps: Schema.Number,
  embeddingStep: Schema.Number,
  tune: Schema.Struct({
    batchSize: Schema.Number,
    lr: Schema.Number,
    evalEvery: Schema.Number,
    maxSource: Schema.Number,
    maxTarget: Schema.Number,
    promptLength: Schema.Number,
  }),
  workers: Schema.Number,
  ks: Schema.Array(Schema.Number),
  similarity: Schema.String,
})
export type StudySpec = typeof StudySpec.Type

export const encodeSpec = (s: StudySpec) => JSON.stringify(s)
export const decodeSpec = (text: string) =>
  Result.try({
    try: () => Schema.decodeUnknownSync(StudySpec)(JSON.parse(text)),
    catch: (e) => new InputError({ field: "spec", message: `not a study spec: ${String(e)}` }),
  })

export const optionsOf = (s: StudySpec): Result.Result<Study.StudyOptions, InputError> => {
  const similarity = Similarity.similarityNamed(s.similarity)
  return similarity
    ? Result.succeed({ ...s, similarity })
    : Result.fail(new InputError({ field: "similarity", message: `unknown similarity ${s.similarity}` }))
}

/** A study's id: a hash of its spec and model, so that the same command joins the same cells. */
export const studyId = (spec: string, fingerprint: string) =>
  Effect.promise(async () => {
    const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${fingerprint}\n${spec}`))
    return `study-${[...new Uint8Array(d)]
      .slice(0, 8)
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("")}`
  })

const toResult = (c: Study.Cell): CellResult => {
  const tensors: Record<string, HostTensor> = {}
  if (c.prompt) tensors.prompt = c.prompt
  if (c.embedding) tensors.embedding = c.embedding
  return Object.keys(tensors).length > 0
    ? { score: c.score, tensors: Safetensors.encodeSafetensors(tensors) }
    : { score: c.score }
}

const fromResult = (r: CellResult, key: string): Study.Cell => {
  if (!r.tensors) return { score: r.score }
  const st = Safetensors.decodeSafetensors(r.tensors, key)
  if (Result.isFailure(st)) return { score: r.score }
  const t = (k: string) => st.success.tensors.get(k) as HostTensor<"f32"> | undefined
  const prompt = t("prompt")
  const embedding = t("embedding")
  return { score: r.score, ...(prompt ? { prompt } : {}), ...(embedding ? { embedding } : {}) }
}

/**
 * One cell of the study grid, from its key, as the single-machine engine computes it:
 * `source/<task>/<seed>` and `baseline/<task>/<seed>` (prompt from the shared init + task embedding),
 * `transfer/<source>/<source seed>/<target>/<seed>` (from the recorded source prompt).
 */
export const studyCell = (
  env: Spot.Env,
  o: Study.StudyOptions,
  data: ReadonlyMap<string, Study.TaskData>,
  key: string,
  sourcePrompt: (key: string) => Effect.Effect<HostTensor<"f32">, InputError>,
) =>
  Effect.gen(function* () {
    const parts = key.split("/")
    const ds = (name: string) => data.get(name)
    const srcOpts: Spot.TuneOptions = { ...o.tune, steps: o.sourceSteps }
    const tgtOpts: Spot.TuneOptions = { ...o.tune, steps: o.targetSteps }
    const embOpts: Spot.TuneOptions = { ...o.tune, steps: o.embeddingStep }
    const bad = (message: string) => new InputError({ field: `cell ${key}`, message })
    const tuned = (d: Study.TaskData, from: HostTensor<"f32">, seed: number, opts: Spot.TuneOptions) =>
      Effect.map(Spot.tunePrompt(env, [d.train], d.valid, from, seed, opts), (r) => ({ score: r.bestScore, prompt: r.best }))
    const withEmbedding = (d: Study.TaskData, seed: number, opts: Spot.TuneOptions) =>
      Effect.zipWith(
        tuned(d, Spot.sharedInit(env, o.tune.promptLength, seed), seed, opts),
        Spot.taskEmbedding(env, [d.train], d.valid, seed, embOpts),
        (c, embedding): Study.Cell => ({ ...c, embedding }),
      )
    if ((parts[0] === "source" || parts[0] === "baseline") && parts.length === 3) {
      const d = ds(parts[1])
      if (!d) return yield* bad(`no data for task ${parts[1]}`)
      return yield* withEmbedding(d, Number(parts[2]), parts[0] === "source" ? srcOpts : tgtOpts)
    }
    if (parts[0] === "transfer" && parts.length === 5) {
      const d = ds(parts[3])
      if (!d) return yield* bad(`no data for task ${parts[3]}`)
      const from = yield* sourcePrompt(`source/${parts[1]}/${parts[2]}`)
      return (yield* tuned(d, from, Number(parts[4]), tgtOpts)) satisfies Study.Cell
    }
    return yield* bad("not a study cell key")
  })

/** A worker's cell work for studies: its model and backend (in `env`), task data from `loadData`. */
export const studyCellWork = (
  env: Spot.Env,
  fingerprint: string,
  worker: string,
  loadData: (spec: StudySpec) => Result.Result<ReadonlyMap<string, Study.TaskData>, InputError>,
): Effect.Effect<CellWorkShape, never, FileSystem.FileSystem | Path.Path> =>
  Effect.map(Effect.context<FileSystem.FileSystem | Path.Path>(), (ctx) => ({
    fingerprint,
    worker,
    run: (cell, lookup) =>
      Effect.gen(function* () {
        const spec = yield* Effect.fromResult(decodeSpec(cell.spec))
        const o = yield* Effect.fromResult(optionsOf(spec))
        const data = yield* Effect.fromResult(loadData(spec))
        const source = (key: string) =>
          lookup(key).pipe(
            Effect.mapError((e) => new InputError({ field: `cell ${key}`, message: e.message })),
            Effect.flatMap((r) => {
              const p = fromResult(r, key).prompt
              return p ? Effect.succeed(p) : Effect.fail(new InputError({ field: `cell ${key}`, message: "no prompt recorded" }))
            }),
          )
        const c = yield* studyCell(env, o, data, cell.key, source)
        return toResult(c)
      }).pipe(
        Effect.mapError(
          (e): CellFailed =>
            ({
              _tag: "CellFailed",
              study: cell.study,
              key: cell.key,
              message: "message" in e ? String(e.message) : String(e),
            }) as CellFailed,
        ),
        Effect.provide(ctx),
      ),
  }))

/** The core engine's cell store, backed by the cluster: `get` runs (or joins) the cell's workflow. */
export const clusterCells = (
  base: Omit<CellPayload, "key">,
): Effect.Effect<Study.CellStore, never, WorkflowEngine.WorkflowEngine> =>
  Effect.map(Effect.context<WorkflowEngine.WorkflowEngine>(), (ctx) => ({
    get: (key) =>
      executeCell({ ...base, key }).pipe(
        Effect.map((r) => fromResult(r, key)),
        Effect.provide(ctx),
        Effect.orDie,
      ),
    put: () => Effect.void,
  }))

/** Runs a study on the cluster; the workers compute the cells, the core engine analyses them. */
export const runClusterStudy = (
  env: Spot.Env,
  spec: StudySpec,
  fingerprint: string,
  data: ReadonlyMap<string, Study.TaskData>,
  id?: string,
) =>
  Effect.gen(function* () {
    const text = encodeSpec(spec)
    const study = id ?? (yield* studyId(text, fingerprint))
    const o = yield* Effect.fromResult(optionsOf(spec))
    const store = yield* clusterCells({ study, fingerprint, spec: text })
    const r = yield* Study.runStudy(env, { ...o, workers: Number.MAX_SAFE_INTEGER }, store, data)
    return { study, result: r }
  })
