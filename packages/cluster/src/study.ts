/**
 * The transferability study on the cluster. The submitter runs the core study engine
 * (`Study.runStudy`) with a cell store whose `get` executes the cell as a durable `GridCell` workflow
 * and waits for it, so every cell is computed once, by some worker, and the analysis is the core's.
 * A worker computes a cell with the core's own `Study.cellWork`, from the study's spec (options and
 * task data, stored once per study) and the cell's `CellSpec`: the same code as a single-machine study.
 */
import { type Dataset, type HostTensor, InputError, Recipe, Safetensors, Similarity, Study, type Tuning } from "@spot/core"
import { Effect, Result } from "effect"
import type { WorkflowEngine } from "effect/workflow"
import {
  type CellFailed,
  type CellPayload,
  type CellResult,
  executeCell,
  putSpec,
  type WaitStatus,
  whileWatching,
} from "./grid.ts"

/** A study as workers read it: its options (similarity by name) and its tasks' data. */
export interface StudySpec {
  readonly kind: "study"
  readonly options: Omit<Study.StudyOptions, "similarity" | "recipe"> & { readonly similarity: string; readonly recipe: string }
  readonly data: Readonly<Record<string, { readonly train: Dataset; readonly valid: Dataset }>>
}

export const makeSpec = (o: Study.StudyOptions, data: ReadonlyMap<string, Study.TaskData>): StudySpec => ({
  kind: "study",
  options: { ...o, similarity: o.similarity.name, recipe: Recipe.encodeRecipe(o.recipe) },
  data: Object.fromEntries(data),
})

export const encodeSpec = (s: StudySpec) => JSON.stringify(s)

const bad = (message: string) => new InputError({ field: "study spec", message })

/** A decoded study spec: what a worker keeps per study. */
export interface DecodedStudy {
  readonly kind: "study"
  readonly options: Study.StudyOptions
  readonly data: ReadonlyMap<string, Study.TaskData>
}

/** The options and data of a parsed spec (`kind: "study"`). */
export const decodeStudySpec = (s: StudySpec): Result.Result<DecodedStudy, InputError> => {
  const similarity = Similarity.similarityNamed(s.options?.similarity)
  if (!similarity) return Result.fail(bad(`unknown similarity ${s.options?.similarity}`))
  const recipe = Recipe.decodeRecipe(s.options.recipe, "recipe")
  if (Result.isFailure(recipe)) return Result.fail(bad(`recipe: ${recipe.failure.message}`))
  return Result.succeed({
    kind: "study",
    options: { ...s.options, similarity, recipe: recipe.success },
    data: new Map(Object.entries(s.data ?? {})),
  })
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

/** A study cell on a worker: its model and backend in `env`, the study decoded from the stored spec. */
export const studyCell = (env: Tuning.Env, study: DecodedStudy, cell: CellPayload, lookup: CellLookup) =>
  Effect.gen(function* () {
    const { options, data } = study
    const spec = yield* Effect.try({
      try: () => JSON.parse(cell.cell ?? "") as Study.CellSpec,
      catch: () => bad(`cell ${cell.key}: no cell spec`),
    })
    const sourcePrompt = (task: string, seed: number) => {
      const key = Study.cellKey(options, data, { kind: "prompt", role: "source", task, seed })
      return lookup(key).pipe(
        Effect.mapError((e) => new InputError({ field: `cell ${key}`, message: e.message })),
        Effect.flatMap((r) => {
          const p = fromResult(r, key).prompt
          return p ? Effect.succeed(p) : Effect.fail(new InputError({ field: `cell ${key}`, message: "no prompt recorded" }))
        }),
      )
    }
    return toResult(yield* Study.cellWork(env, options, data, spec, sourcePrompt))
  })

type CellLookup = (key: string) => Effect.Effect<CellResult, CellFailed>

/** The core engine's cell store, backed by the cluster: `get` runs (or joins) the cell's workflow. */
export const clusterCells = (
  base: Omit<CellPayload, "key" | "cell" | "tensors">,
): Effect.Effect<Study.CellStore, never, WorkflowEngine.WorkflowEngine> =>
  Effect.map(Effect.context<WorkflowEngine.WorkflowEngine>(), (ctx) => ({
    get: (key, spec) =>
      executeCell({ ...base, key, cell: JSON.stringify(spec) }).pipe(
        Effect.map((r) => fromResult(r, key)),
        Effect.provide(ctx),
        Effect.orDie,
      ),
    put: () => Effect.void,
  }))

/** The number of cells of a study: a source and an embedding cell per (source, seed) and per (target, seed), one transfer per pair. */
export const cellCount = (o: Pick<Study.StudyOptions, "sources" | "targets" | "seeds">) => {
  const s = o.sources.length * o.seeds.length
  const t = o.targets.length * o.seeds.length
  return 2 * (s + t) + s * t
}

/** Runs a study on the cluster (its spec stored once); the workers compute the cells, the core engine analyses them. */
export const runClusterStudy = (
  env: Tuning.Env,
  o: Study.StudyOptions,
  data: ReadonlyMap<string, Study.TaskData>,
  fingerprint: string,
  report?: (s: WaitStatus) => Effect.Effect<void>,
) =>
  Effect.gen(function* () {
    const text = encodeSpec(makeSpec(o, data))
    const study = yield* studyId(text, fingerprint)
    yield* putSpec(study, text)
    const store = yield* clusterCells({ study, fingerprint })
    const r = yield* whileWatching(Study.runStudy(env, { ...o, workers: Number.MAX_SAFE_INTEGER }, store, data), {
      study,
      fingerprint,
      total: cellCount(o),
      report,
    })
    return { study, result: r }
  })
