/**
 * `spot demo`: SPoT end to end on one laptop with nothing to download. With the shipped micro T5
 * and the generated task suite it (1) trains source prompts into a fresh prompt library (best
 * checkpoint = source prompt, early checkpoint = task embedding), (2) trains a generic SPoT prompt on
 * the mixture of the source tasks, and (3) for held-out target tasks compares prompt tuning from the
 * shared initialisation, generic SPoT, and targeted SPoT (best of top-k and top-k weighted average,
 * retrieved by per-token average cosine), over several seeds.
 */

import {
  type Dataset,
  type HostTensor,
  Library,
  type LibraryEntry,
  Metrics,
  type PromptLibrary,
  Recipe,
  Retrieval,
  reportProgress,
  Similarity,
  T5Checkpoint,
  Transfer,
  Tuning,
} from "@spot/core"
import { Effect } from "effect"
import { generate, taskNamed } from "./tasks.ts"

export interface DemoOptions {
  readonly sources: readonly string[]
  /** Source tasks mixed for the generic SPoT prompt (a subset of `sources`). */
  readonly mixture: readonly string[]
  readonly targets: readonly string[]
  readonly seeds: readonly number[]
  readonly train: number
  readonly valid: number
  readonly sourceSteps: number
  readonly targetSteps: number
  /** How task embeddings are made (stored with each library seed). */
  readonly recipe: Recipe.EmbeddingRecipe
  readonly k: number
  readonly tune: Omit<Tuning.TuneOptions, "steps" | "embeddingStep">
  readonly targetEvalEvery: number
}

export const DEFAULT_DEMO: DemoOptions = {
  sources: ["movie-sentiment", "animal-topic", "pair-overlap"],
  mixture: ["movie-sentiment", "animal-topic", "pair-overlap"],
  targets: ["food-sentiment", "post-mood", "color-topic", "word-overlap"],
  seeds: [0, 1],
  train: 256,
  valid: 128,
  sourceSteps: 100,
  targetSteps: 12,
  // The demo keeps the recipe, optimizer and vocabulary sampler its published table was made with:
  // task embeddings 10 steps from the uniform init, transformers' Adafactor, sampling with replacement.
  recipe: { kind: "uniform-init", steps: 10, lr: 0.1, batch: 16, init: "uniform", optimizer: "adafactor-hf" },
  k: 3,
  tune: {
    batchSize: 16,
    lr: 0.1,
    evalEvery: 4,
    maxSource: 64,
    maxTarget: 8,
    promptLength: 20,
    optimizer: "adafactor-hf",
    vocabInit: "vocab-with-replacement",
  },
  targetEvalEvery: 2,
}

/**
 * `spot demo --quick`: the same pipeline on a smoke-test budget (two sources, one target, one seed, a
 * few steps on small splits; seconds, not minutes) to check that an install works. Its scores mean nothing.
 */
export const QUICK_DEMO: DemoOptions = {
  ...DEFAULT_DEMO,
  sources: ["movie-sentiment", "animal-topic"],
  mixture: ["movie-sentiment", "animal-topic"],
  targets: ["food-sentiment"],
  seeds: [0],
  train: 32,
  valid: 16,
  sourceSteps: 3,
  targetSteps: 2,
  recipe: { ...DEFAULT_DEMO.recipe, steps: 2 },
  k: 2,
  tune: { ...DEFAULT_DEMO.tune, batchSize: 8, evalEvery: 3 },
  targetEvalEvery: 2,
}

export interface Scores {
  readonly mean: number
  readonly std: number
  readonly seeds: readonly number[]
}

export interface DemoTarget {
  readonly name: string
  readonly random: Scores
  readonly spot: Scores
  readonly best_of_top_k: Scores
  readonly top_k_weighted_average: Scores
  /** Top retrieved source tasks per seed. */
  readonly retrieved: readonly string[][]
}

export interface DemoReport {
  readonly targets: readonly DemoTarget[]
  readonly mean_random: number
  readonly mean_spot: number
  readonly mean_best_of_top_k: number
  readonly mean_top_k_weighted_average: number
  /** Relative error reduction of the mean over prompt tuning from the shared init. */
  readonly rer_spot: number
  readonly rer_best_of_top_k: number
  readonly rer_top_k_weighted_average: number
  readonly sources: readonly string[]
  readonly mixture: readonly string[]
  readonly seeds: readonly number[]
  readonly library: string
  readonly seconds: number
}

const scores = (xs: number[]): Scores => ({ ...Metrics.meanStd(xs), seeds: xs })

type Split = { train: Dataset; valid: Dataset }

/** What the demo's stages share: the model, the options, and how a task's splits, inits and embeddings are made. */
const demoContext = (env: Tuning.Env, o: DemoOptions) => {
  const task = (name: string) => {
    const t = taskNamed(name)
    return t ? Effect.succeed(t) : Effect.die(new Error(`unknown demo task ${name}`))
  }
  const srcOpts: Tuning.TuneOptions = { ...o.tune, steps: o.sourceSteps }
  return {
    env,
    o,
    key: T5Checkpoint.modelKey(env.model),
    srcOpts,
    tgtOpts: { ...o.tune, steps: o.targetSteps, evalEvery: o.targetEvalEvery } satisfies Tuning.TuneOptions,
    split: (name: string) =>
      Effect.map(task(name), (t): Split => ({ train: generate(t, "train", o.train), valid: generate(t, "valid", o.valid) })),
    embedding: (data: Split, seed: number) => Transfer.embed(env, o.recipe, [data.train], data.valid, seed, srcOpts),
    init: (seed: number) => Tuning.sharedInit(env, o.tune.promptLength, seed, o.tune.vocabInit),
  }
}
type DemoContext = ReturnType<typeof demoContext>

/** 1. Source prompts and task embeddings into the library; the sources' splits. */
const addSources = (c: DemoContext, lib: PromptLibrary.LibraryStore) =>
  Effect.gen(function* () {
    const { env, o } = c
    const sourceData = new Map<string, Split>()
    for (const name of o.sources) {
      const data = yield* c.split(name)
      sourceData.set(name, data)
      for (const seed of o.seeds) {
        yield* reportProgress({ kind: "info", message: `source ${name}, seed ${seed}` })
        const r = yield* Tuning.tunePrompt(env, [data.train], data.valid, c.init(seed), seed, c.srcOpts)
        const emb = yield* c.embedding(data, seed)
        const entry: LibraryEntry = {
          name,
          task: name,
          description: `generated task ${name}`,
          model: c.key,
          promptLength: o.tune.promptLength,
          created: new Date().toISOString(),
          seeds: [
            {
              seed,
              source: r.best,
              embedding: emb,
              metrics: { accuracy: r.bestScore },
              provenance: {
                steps: String(o.sourceSteps),
                embedding_step: String(o.recipe.steps),
                [Recipe.PROVENANCE_KEY]: Recipe.encodeRecipe(o.recipe),
                best_step: String(r.bestStep),
              },
            },
          ],
        }
        yield* lib.put(entry)
      }
    }
    return sourceData
  })

/** 2. Generic SPoT: one prompt per seed on the mixture of the source tasks. */
const genericPrompts = (c: DemoContext, sourceData: ReadonlyMap<string, Split>) =>
  Effect.gen(function* () {
    const { env, o } = c
    const generic = new Map<number, HostTensor<"f32">>()
    // validated on every mixed task (mean score), each with its own label words
    const mixed = o.mixture.flatMap((n) => {
      const d = sourceData.get(n)
      return d ? [d] : []
    })
    const mixValid = mixed.map((d) => ({ ...d.valid, examples: d.valid.examples.slice(0, 48) }))
    for (const seed of o.seeds) {
      yield* reportProgress({ kind: "info", message: `generic SPoT source (mixture of ${o.mixture.join(", ")}), seed ${seed}` })
      const r = yield* Tuning.tunePrompt(
        env,
        mixed.map((d) => d.train),
        mixValid,
        c.init(seed),
        seed,
        { ...c.srcOpts, steps: o.sourceSteps * mixed.length },
      )
      generic.set(seed, r.best)
    }
    return generic
  })

/** The library's sources as retrieval sees them. */
interface Sources {
  readonly entries: ReadonlyMap<string, LibraryEntry>
  readonly candidates: ReturnType<typeof Transfer.candidatesOf>
  readonly train: ReadonlyMap<string, Dataset>
}

/** 3. One target: prompt tuning, generic SPoT and targeted SPoT (best of top-1, top-k weighted average) per seed. */
const runTarget = (c: DemoContext, name: string, generic: ReadonlyMap<number, HostTensor<"f32">>, sources: Sources) =>
  Effect.gen(function* () {
    const { env, o, tgtOpts } = c
    const data = yield* c.split(name)
    const cols = { random: [] as number[], spot: [] as number[], best: [] as number[], avg: [] as number[] }
    const retrieved: string[][] = []
    for (const seed of o.seeds) {
      yield* reportProgress({ kind: "info", message: `target ${name}, seed ${seed}` })
      const base = yield* Tuning.tunePrompt(env, [data.train], data.valid, c.init(seed), seed, tgtOpts)
      cols.random.push(base.bestScore)
      const sp = yield* Tuning.tunePrompt(env, [data.train], data.valid, generic.get(seed) as HostTensor<"f32">, seed, tgtOpts)
      cols.spot.push(sp.bestScore)
      const target = yield* c.embedding(data, seed)
      const q = {
        target: { summary: Similarity.perTokenAverageCosine.summary(target), model: c.key, promptLength: o.tune.promptLength },
        similarity: Similarity.perTokenAverageCosine,
      }
      const bestPlan = yield* Effect.fromResult(Retrieval.bestOfTopK.plan(sources.candidates, { ...q, k: 1 }))
      const avgPlan = yield* Effect.fromResult(Retrieval.weightedAverageTopK.plan(sources.candidates, { ...q, k: o.k }))
      retrieved.push(avgPlan.ranking.slice(0, o.k).map((r) => `${r.candidate.task}#${r.candidate.seed}`))
      const b = yield* Transfer.executePlan(env, bestPlan, sources.entries, sources.train, data, seed, tgtOpts)
      const a = yield* Transfer.executePlan(env, avgPlan, sources.entries, sources.train, data, seed, tgtOpts)
      cols.best.push(b.best?.score ?? Number.NaN)
      cols.avg.push(a.best?.score ?? Number.NaN)
    }
    return {
      name,
      random: scores(cols.random),
      spot: scores(cols.spot),
      best_of_top_k: scores(cols.best),
      top_k_weighted_average: scores(cols.avg),
      retrieved,
    } satisfies DemoTarget
  })

/** The mean over targets of each method and its relative error reduction over prompt tuning. */
const summarise = (targets: readonly DemoTarget[]) => {
  const mean = (f: (t: DemoTarget) => Scores) => targets.reduce((acc, t) => acc + f(t).mean, 0) / targets.length
  const mr = mean((t) => t.random)
  const ms = mean((t) => t.spot)
  const mb = mean((t) => t.best_of_top_k)
  const ma = mean((t) => t.top_k_weighted_average)
  return {
    mean_random: mr,
    mean_spot: ms,
    mean_best_of_top_k: mb,
    mean_top_k_weighted_average: ma,
    rer_spot: Metrics.relativeErrorReduction(mr, ms),
    rer_best_of_top_k: Metrics.relativeErrorReduction(mr, mb),
    rer_top_k_weighted_average: Metrics.relativeErrorReduction(mr, ma),
  }
}

export const runDemo = (env: Tuning.Env, o: DemoOptions = DEFAULT_DEMO) =>
  Effect.gen(function* () {
    const t0 = performance.now()
    const lib = yield* Library
    const c = demoContext(env, o)
    const sourceData = yield* addSources(c, lib)
    const entries = new Map<string, LibraryEntry>()
    for (const name of o.sources) entries.set(name, yield* lib.get(name))
    const sources: Sources = {
      entries,
      candidates: Transfer.candidatesOf([...entries.values()], Similarity.perTokenAverageCosine),
      train: new Map([...sourceData].map(([k, v]) => [k, v.train])),
    }
    const generic = yield* genericPrompts(c, sourceData)
    const targets: DemoTarget[] = []
    for (const name of o.targets) targets.push(yield* runTarget(c, name, generic, sources))
    return {
      targets,
      ...summarise(targets),
      sources: o.sources,
      mixture: o.mixture,
      seeds: o.seeds,
      library: lib.location,
      seconds: (performance.now() - t0) / 1000,
    } satisfies DemoReport
  })

/** The demo's table as text. */
export const formatDemo = (r: DemoReport): string => {
  const pct = (s: Scores) => `${(100 * s.mean).toFixed(1)} ± ${(100 * s.std).toFixed(1)}`
  const head = ["target", "prompt tuning", "generic SPoT", "best of top-1", "top-k weighted avg", "retrieved (seed 0)"]
  const rows = r.targets.map((t) => [
    t.name,
    pct(t.random),
    pct(t.spot),
    pct(t.best_of_top_k),
    pct(t.top_k_weighted_average),
    t.retrieved[0]?.join(", ") ?? "",
  ])
  const f = (x: number) => (100 * x).toFixed(1)
  rows.push(["mean", f(r.mean_random), f(r.mean_spot), f(r.mean_best_of_top_k), f(r.mean_top_k_weighted_average), ""])
  rows.push([
    "rel. error reduction",
    "",
    `${f(r.rer_spot)}%`,
    `${f(r.rer_best_of_top_k)}%`,
    `${f(r.rer_top_k_weighted_average)}%`,
    "",
  ])
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(w[i])).join("  ")
  return [line(head), line(w.map((n) => "-".repeat(n))), ...rows.map(line)].join("\n")
}
