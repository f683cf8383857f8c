/**
 * `spot study --spec s.json`: a study over the user's tasks. The spec names the tasks — each a
 * preset (`glue/rte`, … read with its ready-made definition), files with a field mapping and
 * metrics, or a generated suite task — the sources and targets among them, and the model,
 * tokenizer, seeds, steps and task-embedding recipe. Relative paths are relative to the spec file.
 * Every error names the spec file and the field.
 */
import { Data, Hub, InputError, Recipe, Study, type TaskDef } from "@spot/core"
import { Synthetic } from "@spot/experiments"
import { Effect, FileSystem, Option, Path, Result, Schema } from "effect"
import { taskDefinition } from "./common.ts"

const PosInt = Schema.Int.check(Schema.isGreaterThan(0))
const Metric = Schema.Literals(["accuracy", "f1", "macro_f1", "matthews", "pearson", "spearman", "exact_match"])

const PresetTask = Schema.Struct({ preset: Schema.String, train: Schema.String, valid: Schema.String })
const FileTask = Schema.Struct({
  train: Schema.String,
  valid: Schema.String,
  /** Input template over the records' fields, e.g. `"premise: {premise} hypothesis: {hypothesis}"`. */
  input: Schema.String,
  /** Target template, e.g. `"{label}"`. */
  target: Schema.String,
  /** Label value → target text (makes the task a classification task, scored by rank classification). */
  labels: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  metrics: Schema.Array(Metric).check(Schema.isMinLength(1)),
  positive: Schema.optionalKey(Schema.String),
})
const SyntheticTask = Schema.Struct({ synthetic: Schema.String, train: PosInt, valid: PosInt })
const TaskSpec = Schema.Union([PresetTask, SyntheticTask, FileTask])

const RecipeSpec = Schema.Union([Schema.Literals(Recipe.RECIPE_KINDS), Recipe.EmbeddingRecipe])

export const StudySpec = Schema.Struct({
  model: Schema.optionalKey(Schema.String),
  tokenizer: Schema.optionalKey(Schema.String),
  tasks: Schema.Record(Schema.String, TaskSpec),
  sources: Schema.Array(Schema.String).check(Schema.isMinLength(1)),
  targets: Schema.Array(Schema.String).check(Schema.isMinLength(1)),
  seeds: Schema.optionalKey(Schema.Array(Schema.Int)),
  sourceSteps: Schema.optionalKey(PosInt),
  targetSteps: Schema.optionalKey(PosInt),
  /** A recipe kind (its steps from `embeddingSteps`, lr and batch from `tune`) or a full recipe. */
  recipe: Schema.optionalKey(RecipeSpec),
  embeddingSteps: Schema.optionalKey(PosInt),
  tune: Schema.optionalKey(
    Schema.Struct({
      batch: Schema.optionalKey(PosInt),
      lr: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThan(0))),
      evalEvery: Schema.optionalKey(PosInt),
      maxSource: Schema.optionalKey(PosInt),
      maxTarget: Schema.optionalKey(PosInt),
      promptLength: Schema.optionalKey(PosInt),
      maxEvalExamples: Schema.optionalKey(PosInt),
    }),
  ),
  workers: Schema.optionalKey(PosInt),
  ks: Schema.optionalKey(Schema.Array(PosInt)),
})
export type StudySpec = typeof StudySpec.Type

/** Decodes spec text; errors name the file and the first failing field. */
export const decodeSpec = (text: string, file: string): Result.Result<StudySpec, InputError> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    return Result.fail(new InputError({ field: file, message: `not JSON: ${(e as Error).message}` }))
  }
  return Result.flatMap(
    Result.mapError(Schema.decodeUnknownResult(StudySpec)(json, { errors: "first" }), (e) => {
      const at = /at (\[.*\])/.exec(e.message)?.[1] ?? "(root)"
      return new InputError({ field: `${file} ${at}`, message: e.message.replace(/\n\s*/g, " ") })
    }),
    (spec) => {
      for (const [role, names] of [
        ["sources", spec.sources],
        ["targets", spec.targets],
      ] as const) {
        const missing = names.filter((n) => !(n in spec.tasks))
        if (missing.length > 0)
          return Result.fail(
            new InputError({ field: `${file} ["${role}"]`, message: `names task(s) not in "tasks": ${missing.join(", ")}` }),
          )
      }
      return Result.succeed(spec)
    },
  )
}

/** The study options a spec sets, over the defaults (similarity is the caller's). */
export const specOptions = (spec: StudySpec): Omit<Study.StudyOptions, "similarity"> => {
  const d = Study.DEFAULT_STUDY
  const t = spec.tune ?? {}
  const tune = {
    ...d.tune,
    ...(t.batch ? { batchSize: t.batch } : {}),
    ...(t.lr ? { lr: t.lr } : {}),
    ...(t.evalEvery ? { evalEvery: t.evalEvery } : {}),
    ...(t.maxSource ? { maxSource: t.maxSource } : {}),
    ...(t.maxTarget ? { maxTarget: t.maxTarget } : {}),
    ...(t.promptLength ? { promptLength: t.promptLength } : {}),
    ...(t.maxEvalExamples ? { maxEvalExamples: t.maxEvalExamples } : {}),
  }
  return {
    ...d,
    sources: spec.sources,
    targets: spec.targets,
    seeds: spec.seeds ?? d.seeds,
    sourceSteps: spec.sourceSteps ?? d.sourceSteps,
    targetSteps: spec.targetSteps ?? d.targetSteps,
    recipe: recipeFrom(spec.recipe ?? d.recipe.kind, spec.embeddingSteps ?? d.recipe.steps, tune),
    tune,
    workers: spec.workers ?? d.workers,
    ks: spec.ks ?? d.ks,
  }
}

/** A recipe kind resolved with the study's lr and batch (so that `early-checkpoint` is the runs' own early checkpoint). */
export const recipeFrom = (
  r: Recipe.EmbeddingRecipe | (typeof Recipe.RECIPE_KINDS)[number],
  steps: number,
  tune: { lr: number; batchSize: number },
): Recipe.EmbeddingRecipe =>
  typeof r !== "string"
    ? r
    : (r === "early-checkpoint" ? Recipe.earlyCheckpoint : Recipe.uniformInit)({ steps, lr: tune.lr, batch: tune.batchSize })

/**
 * A model or tokenizer named by the spec: paths relative to the spec's folder; `random:…`, `byte`
 * and Hugging Face ids (`org/name[@revision]`, when no such folder is beside the spec) as they are.
 */
export const specResource = (p: string, file: string) =>
  Effect.gen(function* () {
    const path = yield* Path.Path
    const fs = yield* FileSystem.FileSystem
    if (p.startsWith("random:") || p === "byte" || path.isAbsolute(p)) return p
    const local = path.join(path.dirname(file), p)
    if (yield* fs.exists(local).pipe(Effect.orElseSucceed(() => false))) return local
    return Option.isSome(Hub.parseRepoId(p, "model")) ? p : local
  })

/** Loads every task of the spec that the study uses; file paths relative to the spec's folder. */
export const loadSpecTasks = (spec: StudySpec, file: string) =>
  Effect.gen(function* () {
    const path = yield* Path.Path
    const dir = path.dirname(file)
    const at = (p: string) => (path.isAbsolute(p) ? p : path.join(dir, p))
    // texts cut as they are read, by the study's own source/target lengths
    const tune = specOptions(spec).tune
    const budget = { input: tune.maxSource * Data.UNITS_PER_TOKEN, target: tune.maxTarget * Data.UNITS_PER_TOKEN }
    const data = new Map<string, Study.TaskData>()
    for (const name of new Set([...spec.sources, ...spec.targets])) {
      const t = spec.tasks[name]
      const field = `${file} ["tasks"]["${name}"]`
      if ("synthetic" in t) {
        const s = Synthetic.studyData([t.synthetic], t.train, t.valid)
        if (s.unknown.length > 0)
          return yield* new InputError({ field: `${field}["synthetic"]`, message: `unknown generated task ${t.synthetic}` })
        data.set(name, s.data.get(t.synthetic) as Study.TaskData)
      } else if ("preset" in t) {
        const preset: Effect.Effect<TaskDef, InputError> = taskDefinition(t.preset)
        const def = yield* preset.pipe(
          Effect.mapError((e) => new InputError({ field: `${field}["preset"]`, message: e.message })),
        )
        const task = { ...def, name }
        data.set(name, {
          train: yield* Data.loadDataset(at(t.train), task, budget),
          valid: yield* Data.loadDataset(at(t.valid), task, budget),
        })
      } else {
        const task = {
          name,
          input: t.input,
          target: t.target,
          metrics: t.metrics,
          ...(t.labels ? { verbalizer: t.labels } : {}),
          ...(t.positive ? { positive: t.positive } : {}),
        }
        const train = yield* Data.loadDataset(at(t.train), task, budget)
        const valid = yield* Data.loadDataset(at(t.valid), task, budget)
        // without a label map, few distinct targets make it a classification task (classes of the train split)
        if (t.labels) data.set(name, { train, valid })
        else {
          const cls = Data.inferClassification(train)
          data.set(name, { train: cls, valid: yield* Effect.fromResult(Data.withClassesOf(valid, cls)) })
        }
      }
    }
    return data
  })

/** The synthetic suite as a spec: what the `--sources/--targets/--train-examples` shorthand means. */
export const syntheticSpec = (
  sources: readonly string[],
  targets: readonly string[],
  train: number,
  valid: number,
): StudySpec => ({
  tasks: Object.fromEntries([...sources, ...targets].map((n) => [n, { synthetic: n, train, valid }])),
  sources,
  targets,
})
