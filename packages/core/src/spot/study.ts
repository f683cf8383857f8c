/**
 * The transferability study (`spot study`): the grid sources × targets × seeds. Every source task is
 * prompt-tuned per seed (its best checkpoint is the source prompt); every target gets a baseline run
 * from the shared init and one run initialised from each (source task, seed) candidate. Task
 * embeddings of sources and targets come from one `EmbeddingRecipe` (the study's `recipe`), as in
 * `spot transfer`, `spot train` and the library.
 *
 * Outputs: the relative-error-reduction matrix, the similarity matrix, per-target Pearson r with its
 * p-value between similarity and transfer gain (one point per source prompt, averaged over target
 * seeds, as the paper plots it), and the Table-3 summary (best of top-k for several k, % of the
 * oracle's gain kept, % of the search space skipped).
 *
 * Resumable: each finished cell is recorded (through `CellStore`) and skipped on the next run.
 * Parallel: up to `workers` cells train at once (backend runs are asynchronous).
 */
import { Effect, Semaphore } from "effect"
import type { Dataset } from "../data/dataset.ts"
import { InputError } from "../errors.ts"
import type { HostTensor } from "../graph/tensor.ts"
import { relativeErrorReduction } from "../train/metrics.ts"
import { report } from "../train/progress.ts"
import { runKeyOf } from "../train/trainer.ts"
import type { Env, TuneOptions } from "../train/tuning.ts"
import { sharedInit, tunePrompt } from "../train/tuning.ts"
import type { EmbeddingRecipe } from "./recipe.ts"
import { earlyCheckpoint, encodeRecipe } from "./recipe.ts"
import type { Similarity } from "./similarity.ts"
import { pearsonTest } from "./stats.ts"
import { embed } from "./transfer.ts"

export interface StudyOptions {
  readonly sources: readonly string[]
  readonly targets: readonly string[]
  readonly seeds: readonly number[]
  readonly train: number
  readonly valid: number
  readonly sourceSteps: number
  readonly targetSteps: number
  /** How task embeddings of sources and targets are made. */
  readonly recipe: EmbeddingRecipe
  readonly tune: Omit<TuneOptions, "steps" | "embeddingStep">
  readonly workers: number
  readonly ks: readonly number[]
  readonly similarity: Similarity
}

/** A finished cell: a score, and for source/baseline cells the prompts to keep. */
export interface Cell {
  readonly score: number
  readonly prompt?: HostTensor<"f32">
  readonly embedding?: HostTensor<"f32">
}

/** Where finished cells are kept between runs (files in the CLI; memory in tests). */
export interface CellStore {
  /** A finished cell, or undefined; `spec` says what the cell is (a cluster store computes it remotely). */
  readonly get: (key: string, spec: CellSpec) => Effect.Effect<Cell | undefined>
  readonly put: (key: string, cell: Cell) => Effect.Effect<void>
}

export const memoryCells = (): CellStore => {
  const m = new Map<string, Cell>()
  return { get: (k) => Effect.succeed(m.get(k)), put: (k, c) => Effect.sync(() => void m.set(k, c)) }
}

/** Pearson r over the source prompts of one target (each point averaged over the target's seeds). */
export interface Correlation {
  readonly r: number
  readonly p: number
  readonly n: number
}

export interface SummaryRow {
  readonly k: number
  /** Mean over targets and seeds of the best transfer score among the top-k retrieved candidates. */
  readonly score: number
  readonly oracle_gain_kept: number
  readonly search_space_skipped: number
}

export interface StudyResult {
  readonly sources: readonly string[]
  readonly targets: readonly string[]
  readonly seeds: readonly number[]
  readonly similarity_metric: string
  /** The task-embedding recipe (canonical JSON). */
  readonly recipe: string
  /** [target][source] mean relative error reduction of transfer over the baseline. */
  readonly rer: readonly (readonly number[])[]
  /** [target][source] mean similarity of task embeddings. */
  readonly similarity: readonly (readonly number[])[]
  readonly correlation: readonly Correlation[]
  readonly baseline: number
  readonly oracle: number
  readonly summary: readonly SummaryRow[]
  readonly candidates: number
  readonly cells: number
  readonly seconds: number
}

export const DEFAULT_STUDY: Omit<StudyOptions, "similarity"> = {
  sources: ["movie-sentiment", "food-sentiment", "animal-topic", "color-topic", "short-long", "word-overlap"],
  targets: ["post-mood", "color-topic", "word-overlap"],
  seeds: [0],
  train: 256,
  valid: 64,
  sourceSteps: 40,
  targetSteps: 12,
  // the default recipe by measurement (docs/benchmarks.md, "Task-embedding recipes"): the paper's
  recipe: earlyCheckpoint({ steps: 10, lr: 0.1, batch: 16 }),
  tune: { batchSize: 16, lr: 0.1, evalEvery: 4, maxSource: 64, maxTarget: 8, promptLength: 20 },
  workers: 2,
  ks: [1, 3, 6, 9, 12, 15],
}

/** The train and validation splits of one study task, loaded by the caller (a spec, the synthetic suite, …). */
export interface TaskData {
  readonly train: Dataset
  readonly valid: Dataset
}

/** The trained grid: per (task, seed) source and baseline cells, per pair the transfer score. */
interface Grid {
  readonly srcKeys: ReadonlyArray<readonly [string, number]>
  readonly tgtKeys: ReadonlyArray<readonly [string, number]>
  readonly source: (s: string, seed: number) => Cell | undefined
  readonly base: (t: string, seed: number) => Cell | undefined
  readonly transfer: (s: string, cs: number, t: string, seed: number) => number
  readonly computed: number
}

const checkData = (o: StudyOptions, data: ReadonlyMap<string, TaskData>) =>
  Effect.gen(function* () {
    for (const name of new Set([...o.sources, ...o.targets])) {
      if (!data.has(name))
        return yield* Effect.fail(new InputError({ field: `task ${name}`, message: `no data for study task "${name}"` }))
    }
  })

/** What one cell of the grid computes (a cell store, or a worker of a cluster, gets this with its key). */
export type CellSpec =
  /** A prompt tuned from the shared init: a source prompt or a target's baseline. */
  | { readonly kind: "prompt"; readonly role: "source" | "baseline"; readonly task: string; readonly seed: number }
  /** A task embedding by the study's recipe. */
  | { readonly kind: "embedding"; readonly role: "source" | "baseline"; readonly task: string; readonly seed: number }
  /** A target tuned from a source prompt. */
  | {
      readonly kind: "transfer"
      readonly source: string
      readonly sourceSeed: number
      readonly target: string
      readonly seed: number
    }

const optsOf = (o: StudyOptions, role: "source" | "baseline"): TuneOptions => ({
  ...o.tune,
  steps: role === "source" ? o.sourceSteps : o.targetSteps,
})

/**
 * A cell's key: everything the cell depends on (options, optimizer, init sampler, data sizes, recipe),
 * so that a rerun with other settings recomputes instead of reusing stale cells. Prompts do not depend
 * on the recipe (cells shared by studies of several recipes); embeddings are keyed by it.
 */
export const cellKey = (o: StudyOptions, data: ReadonlyMap<string, TaskData>, c: CellSpec): string => {
  const tagOf = (opts: TuneOptions) =>
    runKeyOf({ ...opts, optimizer: opts.optimizer ?? "adafactor", vocabInit: opts.vocabInit ?? "vocab" })
  const sizes = (n: string) => `${data.get(n)?.train.examples.length}x${data.get(n)?.valid.examples.length}`
  switch (c.kind) {
    case "prompt":
      return `${c.role}/${c.task}/${c.seed}/${sizes(c.task)}/${tagOf(optsOf(o, c.role))}`
    case "embedding": {
      const tag = runKeyOf([encodeRecipe(o.recipe), o.tune.maxSource, o.tune.maxTarget, o.tune.promptLength])
      return `embedding/${c.role}/${c.task}/${c.seed}/${sizes(c.task)}/${tag}`
    }
    case "transfer":
      return `transfer/${c.source}/${c.sourceSeed}/${c.target}/${c.seed}/${sizes(c.source)}-${sizes(c.target)}/${tagOf(optsOf(o, "source"))}-${tagOf(optsOf(o, "baseline"))}`
  }
}

/**
 * The work of one cell, the same wherever it runs: this process (`runStudy`) or a cluster's worker.
 * A transfer cell reads its source prompt through `sourcePrompt` (the recorded source cell).
 */
export const cellWork = <E, R>(
  env: Env,
  o: StudyOptions,
  data: ReadonlyMap<string, TaskData>,
  c: CellSpec,
  sourcePrompt: (task: string, seed: number) => Effect.Effect<HostTensor<"f32">, E, R>,
) =>
  Effect.gen(function* () {
    const ds = (n: string) => data.get(n)
    const missing = (n: string) => new InputError({ field: `task ${n}`, message: `no data for study task "${n}"` })
    const tuned = (t: TaskData, from: HostTensor<"f32">, seed: number, opts: TuneOptions, keep: boolean) =>
      Effect.map(
        tunePrompt(env, [t.train], t.valid, from, seed, opts),
        (r): Cell => ({ score: r.bestScore, ...(keep ? { prompt: r.best } : {}) }),
      )
    switch (c.kind) {
      case "prompt": {
        const t = ds(c.task)
        if (!t) return yield* missing(c.task)
        const init = sharedInit(env, o.tune.promptLength, c.seed, o.tune.vocabInit)
        return yield* tuned(t, init, c.seed, optsOf(o, c.role), true)
      }
      case "embedding": {
        const t = ds(c.task)
        if (!t) return yield* missing(c.task)
        const e = yield* embed(env, o.recipe, [t.train], t.valid, c.seed, { ...o.tune, steps: o.recipe.steps })
        return { score: 0, embedding: e } satisfies Cell
      }
      case "transfer": {
        const t = ds(c.target)
        if (!t) return yield* missing(c.target)
        const from = yield* sourcePrompt(c.source, c.sourceSeed)
        return yield* tuned(t, from, c.seed, optsOf(o, "baseline"), false)
      }
    }
  })

/** Trains every cell not already in `store`: phase 1 sources and baselines, phase 2 every candidate into every target. */
const trainGrid = (env: Env, o: StudyOptions, store: CellStore, data: ReadonlyMap<string, TaskData>) =>
  Effect.gen(function* () {
    const sem = yield* Semaphore.make(Math.max(1, o.workers))
    let computed = 0
    const sourceCells = new Map<string, Cell>()
    const cell = (spec: CellSpec) =>
      Effect.gen(function* () {
        const key = cellKey(o, data, spec)
        const hit = yield* store.get(key, spec)
        if (hit) return hit
        const work = cellWork(env, o, data, spec, (s, cs) => {
          const p = sourceCells.get(`${s}#${cs}`)?.prompt
          return p
            ? Effect.succeed(p)
            : Effect.fail(new InputError({ field: `cell ${key}`, message: `source prompt ${s}#${cs} is missing` }))
        })
        const c = yield* sem.withPermits(1)(work)
        yield* store.put(key, c)
        computed++
        yield* report({ kind: "info", message: `cell ${key}: ${c.score.toFixed(4)}` })
        return c
      })
    const srcKeys = o.sources.flatMap((s) => o.seeds.map((seed) => [s, seed] as const))
    const tgtKeys = o.targets.flatMap((t) => o.seeds.map((seed) => [t, seed] as const))
    const both = (role: "source" | "baseline", task: string, seed: number) =>
      Effect.zipWith(
        cell({ kind: "prompt", role, task, seed }),
        cell({ kind: "embedding", role, task, seed }),
        (c, e): Cell => ({ ...c, ...(e.embedding ? { embedding: e.embedding } : {}) }),
      )
    const phase1 = yield* Effect.all(
      [...srcKeys.map(([s, seed]) => both("source", s, seed)), ...tgtKeys.map(([t, seed]) => both("baseline", t, seed))],
      { concurrency: "unbounded" },
    )
    srcKeys.forEach(([s, seed], i) => {
      sourceCells.set(`${s}#${seed}`, phase1[i])
    })
    const baseCells = new Map(tgtKeys.map(([t, seed], i) => [`${t}#${seed}`, phase1[srcKeys.length + i]]))
    const pairs = tgtKeys.flatMap(([t, seed]) => srcKeys.map(([s, cs]) => ({ t, seed, s, cs })))
    const transfers = yield* Effect.all(
      pairs.map(({ t, seed, s, cs }) => cell({ kind: "transfer", source: s, sourceSeed: cs, target: t, seed })),
      { concurrency: "unbounded" },
    )
    const transfer = new Map(pairs.map((p, i) => [`${p.s}#${p.cs}->${p.t}#${p.seed}`, transfers[i].score]))
    return {
      srcKeys,
      tgtKeys,
      source: (s, seed) => sourceCells.get(`${s}#${seed}`),
      base: (t, seed) => baseCells.get(`${t}#${seed}`),
      transfer: (s, cs, t, seed) => transfer.get(`${s}#${cs}->${t}#${seed}`) ?? 0,
      computed,
    } satisfies Grid
  })

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)

/** Similarity of target (t, seed) to source prompt (s, cs), and the transfer's relative error reduction. */
const measures = (o: StudyOptions, g: Grid) => {
  const sim = (t: string, seed: number, s: string, cs: number) => {
    const a = g.base(t, seed)?.embedding
    const b = g.source(s, cs)?.embedding
    return a && b ? o.similarity.score(o.similarity.summary(a), o.similarity.summary(b)) : 0
  }
  const rer = (t: string, seed: number, s: string, cs: number) =>
    relativeErrorReduction(g.base(t, seed)?.score ?? 0, g.transfer(s, cs, t, seed))
  return { sim, rer }
}

/**
 * Per target, Pearson r between similarity and relative error reduction with one point per source
 * prompt (source task, source seed), each averaged over the target's seeds, as the paper plots it.
 */
export const correlationPerSourcePrompt = (
  targets: readonly string[],
  seeds: readonly number[],
  sourcePrompts: ReadonlyArray<readonly [string, number]>,
  sim: (t: string, seed: number, s: string, cs: number) => number,
  gain: (t: string, seed: number, s: string, cs: number) => number,
): Correlation[] =>
  targets.map((t) =>
    pearsonTest(
      sourcePrompts.map(([s, cs]) => mean(seeds.map((seed) => sim(t, seed, s, cs)))),
      sourcePrompts.map(([s, cs]) => mean(seeds.map((seed) => gain(t, seed, s, cs)))),
    ),
  )

/** The Table-3 summary: per k, the best transfer among the top-k retrieved, and the share of the oracle's gain kept. */
const summarise = (o: StudyOptions, g: Grid, sim: (t: string, seed: number, s: string, cs: number) => number) => {
  const nCand = g.srcKeys.length
  const perRun = g.tgtKeys.map(([t, seed]) => {
    const ranked = g.srcKeys
      .map(([s, cs]) => ({ s, cs, sim: sim(t, seed, s, cs), score: g.transfer(s, cs, t, seed) }))
      .sort((a, b) => b.sim - a.sim || a.s.localeCompare(b.s) || a.cs - b.cs)
    return { base: g.base(t, seed)?.score ?? 0, ranked, oracle: Math.max(...ranked.map((r) => r.score)) }
  })
  const baseline = mean(perRun.map((r) => r.base))
  const oracle = mean(perRun.map((r) => r.oracle))
  const summary = o.ks.map((k) => {
    const kk = Math.min(k, nCand)
    const score = mean(perRun.map((r) => Math.max(...r.ranked.slice(0, kk).map((x) => x.score))))
    return {
      k,
      score,
      oracle_gain_kept: oracle === baseline ? 1 : (score - baseline) / (oracle - baseline),
      search_space_skipped: 1 - kk / nCand,
    }
  })
  return { baseline, oracle, summary, candidates: nCand }
}

/**
 * Runs the grid over `data`, which must hold every source and target task named in `o`; the engine
 * never loads tasks itself, so a study runs on user tasks and generated ones alike.
 */
export const runStudy = (env: Env, o: StudyOptions, store: CellStore, data: ReadonlyMap<string, TaskData>) =>
  Effect.gen(function* () {
    const t0 = performance.now()
    yield* checkData(o, data)
    const g = yield* trainGrid(env, o, store, data)
    const { sim, rer } = measures(o, g)
    const overSeeds = (t: string, s: string, f: typeof sim) =>
      mean(o.seeds.flatMap((seed) => o.seeds.map((cs) => f(t, seed, s, cs))))
    return {
      sources: o.sources,
      targets: o.targets,
      seeds: o.seeds,
      similarity_metric: o.similarity.name,
      recipe: encodeRecipe(o.recipe),
      rer: o.targets.map((t) => o.sources.map((s) => overSeeds(t, s, rer))),
      similarity: o.targets.map((t) => o.sources.map((s) => overSeeds(t, s, sim))),
      correlation: correlationPerSourcePrompt(o.targets, o.seeds, g.srcKeys, sim, rer),
      ...summarise(o, g, sim),
      cells: g.computed,
      seconds: (performance.now() - t0) / 1000,
    } satisfies StudyResult
  })
