/**
 * Executing SPoT: train a prompt on a task (or mixture) from an initialisation, compute task
 * embeddings, turn library entries into retrieval candidates, and run a transfer plan.
 */
import { Effect } from "effect"
import type { Dataset } from "../data/dataset.ts"
import type { Tokenizer } from "../data/tokenizer.ts"
import { LibraryError } from "../errors.ts"
import type { HostTensor } from "../graph/tensor.ts"
import type { LibraryEntry } from "../library/library.ts"
import type { T5Model } from "../t5/checkpoint.ts"
import type { T5Runner } from "../t5/model.ts"
import { evaluatePrompt } from "../train/evaluate.ts"
import { fromVocab, randomUniform, weightedAverage } from "../train/init.ts"
import { adafactor } from "../train/optim.ts"
import { train } from "../train/trainer.ts"
import { promptProblem } from "../train/tuning.ts"
import type { Candidate, InitSpec, TransferPlan } from "./retrieval.ts"
import type { Similarity } from "./similarity.ts"

export interface TuneOptions {
  readonly steps: number
  readonly batchSize: number
  readonly lr: number
  readonly evalEvery: number
  readonly maxSource: number
  readonly maxTarget: number
  readonly promptLength: number
  readonly maxEvalExamples?: number
  /** Save the early checkpoint (task embedding) at this step. */
  readonly embeddingStep?: number
  readonly checkpointDir?: string
}

export interface Tuned {
  readonly best: HostTensor<"f32">
  readonly bestScore: number
  readonly bestStep: number
  readonly early?: HostTensor<"f32">
  /** Validation score after each evaluation: [step, score]. */
  readonly curve: ReadonlyArray<readonly [number, number]>
  readonly last: HostTensor<"f32">
}

export interface Env {
  readonly model: T5Model
  readonly tokenizer: Tokenizer
  readonly runner: T5Runner
}

/** The shared initialisation of a seed for prompt tuning (vocabulary-sampled): the same for every task. */
export const sharedInit = (env: Env, L: number, seed: number) => fromVocab(env.model, env.tokenizer, L, seed)

/**
 * The initialisation task embeddings start from: uniform [-0.5, 0.5], the same for every task at a
 * seed. Its small norm lets a few steps of task signal dominate the similarity (from a vocabulary
 * init, every embedding would mostly resemble the init it shares with all the others).
 */
export const embeddingInit = (env: Env, L: number, seed: number) => randomUniform(L, env.model.config.dModel, seed)

/** A task's embedding: its prompt after `steps` steps from `embeddingInit` at `seed`. */
export const taskEmbedding = (env: Env, trainSets: readonly Dataset[], valid: Dataset, seed: number, o: TuneOptions) =>
  Effect.map(
    tunePrompt(env, trainSets, valid, embeddingInit(env, o.promptLength, seed), seed, {
      ...o,
      evalEvery: o.steps,
      maxEvalExamples: 1,
    }),
    (r) => r.last,
  )

/**
 * Prompt tuning of `init` on `train` (one task or a mixture), selected on `valid` (several
 * validation sets, e.g. one per task of a mixture: the mean of their scores).
 */
export const tunePrompt = (
  env: Env,
  trainSets: readonly Dataset[],
  validSets: Dataset | readonly Dataset[],
  init: HostTensor<"f32">,
  seed: number,
  o: TuneOptions,
) =>
  Effect.gen(function* () {
    let early: HostTensor<"f32"> | undefined
    const valids: readonly Dataset[] = Array.isArray(validSets) ? validSets : [validSets as Dataset]
    const valid = valids[0]
    const { problem } = yield* promptProblem(
      {
        model: env.model,
        tokenizer: env.tokenizer,
        train: trainSets,
        valid,
        batchSize: o.batchSize,
        maxSource: o.maxSource,
        maxTarget: o.maxTarget,
        seed,
        ...(o.maxEvalExamples ? { maxEvalExamples: o.maxEvalExamples } : {}),
        ...(o.checkpointDir ? { checkpointDir: o.checkpointDir } : {}),
      },
      env.runner,
      init,
    )
    const evaluateAll = (params: ReadonlyMap<string, HostTensor<"f32">>) =>
      Effect.gen(function* () {
        const scores: number[] = []
        const metrics: Record<string, number> = {}
        for (const ds of valids) {
          const r = yield* score(env, params.get("prompt") as HostTensor<"f32">, ds, o)
          scores.push(r)
          metrics[ds.task.name] = r
        }
        return { score: scores.reduce((a, b) => a + b, 0) / scores.length, metrics }
      })
    // keep checkpoints in memory (a study runs thousands of these); files only when asked
    const inMemory = {
      ...problem,
      ...(valids.length > 1 ? { evaluate: evaluateAll } : {}),
      save: (
        which: "best" | "last" | "early",
        params: ReadonlyMap<string, HostTensor<"f32">>,
        meta: { step: number; score: number; metrics: Readonly<Record<string, number>> },
      ) =>
        Effect.gen(function* () {
          if (which === "early") early = params.get("prompt")
          return yield* problem.save(which, params, meta)
        }),
    }
    const r = yield* train(inMemory, {
      steps: o.steps,
      evalEvery: o.evalEvery,
      ...(o.embeddingStep ? { embeddingStep: o.embeddingStep } : {}),
      seed,
      optimizer: adafactor(),
      schedule: { kind: "constant", lr: o.lr },
      runKey: "in-memory",
      ...(o.checkpointDir ? { checkpointDir: o.checkpointDir } : {}),
    })
    return {
      best: r.best.params.get("prompt") as HostTensor<"f32">,
      bestScore: r.best.score,
      bestStep: r.best.step,
      ...(early ? { early } : {}),
      curve: r.history.filter((h) => h.score !== undefined).map((h) => [h.step, h.score as number] as const),
      last: r.params.get("prompt") as HostTensor<"f32">,
    } satisfies Tuned
  })

/** Score of a prompt on a dataset (the task's first metric). */
export const score = (
  env: Env,
  prompt: HostTensor<"f32">,
  ds: Dataset,
  o: Pick<TuneOptions, "maxSource" | "maxTarget" | "maxEvalExamples">,
) =>
  Effect.map(
    evaluatePrompt(env.runner, env.tokenizer, prompt, ds, {
      maxSource: o.maxSource,
      maxTarget: o.maxTarget,
      ...(o.maxEvalExamples ? { maxExamples: o.maxEvalExamples } : {}),
    }),
    (r) => r.score,
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
            return sharedInit(env, o.promptLength, seed)
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
