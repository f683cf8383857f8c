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
import type { Candidate, InitSpec, TransferPlan } from "./retrieval.ts"
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

/** Executes a transfer plan for a target task; the best run by validation score wins. */
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
    const err = (message: string) => new LibraryError({ library: "(plan)", entry: "", message })
    const sourcePrompt = (ref: { entry: string; seed: number }) => {
      const s = entries.get(ref.entry)?.seeds.find((x) => x.seed === ref.seed)
      return s
        ? Effect.succeed(s.source)
        : Effect.fail(err(`plan references ${ref.entry}#${ref.seed}, which the library does not hold`))
    }
    const initOf = (spec: InitSpec, previous: HostTensor<"f32"> | undefined) =>
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
            return previous ?? (yield* err("previous-stage init in a first stage"))
        }
      })
    const runs: PlanRun[] = []
    for (const run of plan.runs) {
      let prompt: HostTensor<"f32"> | undefined
      let last: Tuned | undefined
      for (const stage of run.stages) {
        const init = yield* initOf(stage.init, prompt)
        const data: Dataset[] = []
        for (const name of stage.data) {
          const ds = name === "target" ? target.train : sources.get(name)
          if (!ds) return yield* err(`plan trains on ${name}, whose data is not available`)
          data.push(ds)
        }
        last = yield* tunePrompt(env, data, target.valid, init, seed, o)
        prompt = last.best
      }
      if (last) runs.push({ label: run.label, score: last.bestScore, prompt: last.best })
    }
    const best = runs.reduce<PlanRun | undefined>((a, r) => (a === undefined || r.score > a.score ? r : a), undefined)
    return { runs, best }
  })
