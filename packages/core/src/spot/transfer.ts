/**
 * Executing SPoT transfer: compute task embeddings, turn library entries into retrieval candidates,
 * and run a transfer plan (each stage is prompt tuning, `Tuning.tunePrompt`).
 */
import { Effect } from "effect"
import type { Dataset } from "../data/dataset.ts"
import { LibraryError } from "../errors.ts"
import type { HostTensor } from "../graph/tensor.ts"
import type { LibraryEntry } from "../library/library.ts"
import { randomUniform, weightedAverage } from "../train/init.ts"
import type { Env, Tuned, TuneOptions } from "../train/tuning.ts"
import { sharedInit, tunePrompt } from "../train/tuning.ts"
import type { EmbeddingRecipe } from "./recipe.ts"
import type { Candidate, InitSpec, Run, TransferPlan } from "./retrieval.ts"
import type { Similarity } from "./similarity.ts"

/**
 * The initialisation task embeddings start from: uniform [-0.5, 0.5], the same for every task at a
 * seed. Its small norm lets a few steps of task signal dominate the similarity (from a vocabulary
 * init, every embedding would mostly resemble the init it shares with all the others).
 */
export const embeddingInit = (env: Env, L: number, seed: number) => randomUniform(L, env.model.config.dModel, seed)

/** A task's embedding: its prompt after `steps` steps from `embeddingInit` at `seed` (the `uniform-init` recipe of `o`). */
export const taskEmbedding = (env: Env, trainSets: readonly Dataset[], valid: Dataset, seed: number, o: TuneOptions) =>
  embed(
    env,
    {
      kind: "uniform-init",
      steps: o.steps,
      lr: o.lr,
      batch: o.batchSize,
      init: "uniform",
      optimizer: o.optimizer ?? "adafactor",
    },
    trainSets,
    valid,
    seed,
    o,
  )

/** The init a recipe's steps start from. */
export const recipeInit = (env: Env, r: EmbeddingRecipe, L: number, seed: number) =>
  r.init === "uniform" ? embeddingInit(env, L, seed) : sharedInit(env, L, seed, r.init)

/** The tuning options a recipe fixes (steps, lr, batch, optimizer; constant lr), over `o`'s data settings. */
export const recipeOptions = (r: EmbeddingRecipe, o: TuneOptions): TuneOptions => {
  const { schedule: _s, embeddingStep: _e, checkpointDir: _c, ...rest } = o
  return { ...rest, steps: r.steps, lr: r.lr, batchSize: r.batch, optimizer: r.optimizer }
}

/**
 * A task's embedding by `recipe`: `recipe.steps` steps of prompt tuning from the recipe's init at
 * `seed` (for `early-checkpoint`, exactly the early checkpoint a prompt-tuning run with the same lr,
 * batch and optimizer saves at that step: batches, dropout and updates depend on (seed, step) only).
 */
export const embed = (
  env: Env,
  recipe: EmbeddingRecipe,
  trainSets: readonly Dataset[],
  valid: Dataset,
  seed: number,
  o: TuneOptions,
) =>
  Effect.map(
    tunePrompt(env, trainSets, valid, recipeInit(env, recipe, o.promptLength, seed), seed, {
      ...recipeOptions(recipe, o),
      evalEvery: recipe.steps,
      maxEvalExamples: 1,
    }),
    (r) => r.last,
  )

/** Retrieval candidates of library entries: one per (task, seed) with a task embedding. */
export const candidatesOf = (entries: readonly LibraryEntry[], sim: Similarity): Candidate[] =>
  entries.flatMap((e) =>
    e.seeds.flatMap((s) =>
      s.embedding
        ? [
            {
              entry: e.name,
              task: e.task,
              seed: s.seed,
              model: e.model,
              promptLength: e.promptLength,
              summary: sim.summary(s.embedding),
            },
          ]
        : [],
    ),
  )

export interface PlanRun {
  readonly label: string
  readonly score: number
  readonly prompt: HostTensor<"f32">
}

/** The data of a plan's runs: training sets by name ("target" and the source tasks a mixture needs), the target's validation set. */
export interface PlanData {
  readonly train: ReadonlyMap<string, Dataset>
  readonly valid: Dataset
}

/** A plan's data: the source tasks' training sets and the target's splits (the target's is named "target"). */
export const planData = (
  sources: ReadonlyMap<string, Dataset>,
  target: { readonly train: Dataset; readonly valid: Dataset },
): PlanData => ({ train: new Map([...sources, ["target", target.train]]), valid: target.valid })

/** A stage of a run with its init resolved: a tensor, or the prompt the previous stage produced. */
export interface ResolvedStage {
  /** Training sets by name in `PlanData.train` (a mixture when several). */
  readonly data: readonly string[]
  readonly init: HostTensor<"f32"> | "previous-stage"
}

/** A run whose inits are tensors: everything a run needs besides its data, tuning options and seed (what a cluster's worker receives). */
export interface ResolvedRun {
  readonly label: string
  readonly stages: readonly ResolvedStage[]
}

const planError = (message: string) => new LibraryError({ library: "(plan)", entry: "", message })

const checkData = (names: readonly string[], data: PlanData) => {
  const missing = names.find((n) => !data.train.has(n))
  return missing === undefined
    ? Effect.succeed(names.map((n) => data.train.get(n) as Dataset))
    : Effect.fail(planError(`plan trains on ${missing}, whose data is not available`))
}

/**
 * Resolves a run's inits against the library (source prompts, weighted averages, the shared init at
 * `seed`) and checks that its data is available: after this, the run needs no library.
 */
export const resolveRun = (
  env: Env,
  run: Run,
  entries: ReadonlyMap<string, LibraryEntry>,
  data: PlanData,
  seed: number,
  o: TuneOptions,
) =>
  Effect.gen(function* () {
    const sourcePrompt = (ref: { entry: string; seed: number }) => {
      const s = entries.get(ref.entry)?.seeds.find((x) => x.seed === ref.seed)
      return s
        ? Effect.succeed(s.source)
        : Effect.fail(planError(`plan references ${ref.entry}#${ref.seed}, which the library does not hold`))
    }
    const initOf = (spec: InitSpec, first: boolean) =>
      Effect.gen(function* () {
        switch (spec.kind) {
          case "default":
            return sharedInit(env, o.promptLength, seed, o.vocabInit)
          case "prompt":
            return yield* sourcePrompt(spec.from)
          case "average": {
            const ps: HostTensor<"f32">[] = []
            for (const r of spec.from) ps.push(yield* sourcePrompt(r))
            return yield* Effect.fromResult(weightedAverage(ps, spec.weights))
          }
          case "previous-stage":
            return first ? yield* planError("previous-stage init in a first stage") : ("previous-stage" as const)
        }
      })
    const stages: ResolvedStage[] = []
    for (const [i, stage] of run.stages.entries()) {
      yield* checkData(stage.data, data)
      stages.push({ data: stage.data, init: yield* initOf(stage.init, i === 0) })
    }
    return { label: run.label, stages } satisfies ResolvedRun
  })

/**
 * Trains a resolved run, stage after stage (`Tuning.tunePrompt`, each stage validated on the target):
 * the same code on one machine (`executePlan`) and on a cluster's worker. Undefined for a run of no stage.
 */
export const runResolved = (env: Env, run: ResolvedRun, data: PlanData, seed: number, o: TuneOptions) =>
  Effect.gen(function* () {
    let last: Tuned | undefined
    for (const stage of run.stages) {
      const init = stage.init === "previous-stage" ? last?.best : stage.init
      if (init === undefined) return yield* planError(`run ${run.label}: previous-stage init in a first stage`)
      const sets = yield* checkData(stage.data, data)
      last = yield* tunePrompt(env, sets, data.valid, init, seed, o)
    }
    return last ? ({ label: run.label, score: last.bestScore, prompt: last.best } satisfies PlanRun) : undefined
  })

/** The best run by validation score (the first of equal ones, in plan order). */
export const bestRun = (runs: readonly PlanRun[]) =>
  runs.reduce<PlanRun | undefined>((a, r) => (a === undefined || r.score > a.score ? r : a), undefined)

/** Executes a transfer plan for a target task, run after run; the best run by validation score wins. */
export const executePlan = (
  env: Env,
  plan: TransferPlan,
  entries: ReadonlyMap<string, LibraryEntry>,
  sources: ReadonlyMap<string, Dataset>,
  target: { readonly train: Dataset; readonly valid: Dataset },
  seed: number,
  o: TuneOptions,
) =>
  Effect.gen(function* () {
    const data = planData(sources, target)
    const runs: PlanRun[] = []
    for (const run of plan.runs) {
      const r = yield* runResolved(env, yield* resolveRun(env, run, entries, data, seed, o), data, seed, o)
      if (r) runs.push(r)
    }
    return { runs, best: bestRun(runs) }
  })
