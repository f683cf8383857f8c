/**
 * The transferability study (`spot study`): the grid sources × targets × seeds. Every source task is
 * prompt-tuned per seed (its best checkpoint is the source prompt); every target gets a baseline run
 * from the shared init and one run initialised from each (source task, seed) candidate. Task
 * embeddings of sources and targets come from `taskEmbedding`, as in `spot transfer` and the demo.
 *
 * Outputs: the relative-error-reduction matrix, the similarity matrix, per-target Pearson r with its
 * p-value between similarity and transfer gain, and the Table-3 summary (best of top-k for several
 * k, % of the oracle's gain kept, % of the search space skipped).
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
import type { Env, TuneOptions } from "../train/tuning.ts"
import { sharedInit, tunePrompt } from "../train/tuning.ts"
import type { Similarity } from "./similarity.ts"
import { pearsonTest } from "./stats.ts"
import { taskEmbedding } from "./transfer.ts"

export interface StudyOptions {
  readonly sources: readonly string[]
  readonly targets: readonly string[]
  readonly seeds: readonly number[]
  readonly train: number
  readonly valid: number
  readonly sourceSteps: number
  readonly targetSteps: number
  readonly embeddingStep: number
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
  readonly get: (key: string) => Effect.Effect<Cell | undefined>
  readonly put: (key: string, cell: Cell) => Effect.Effect<void>
}

export const memoryCells = (): CellStore => {
  const m = new Map<string, Cell>()
  return { get: (k) => Effect.succeed(m.get(k)), put: (k, c) => Effect.sync(() => void m.set(k, c)) }
}

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
  embeddingStep: 10,
  tune: { batchSize: 16, lr: 0.1, evalEvery: 4, maxSource: 64, maxTarget: 8, promptLength: 20 },
  workers: 2,
  ks: [1, 3, 6, 9, 12, 15],
}

/** The train and validation splits of one study task, loaded by the caller (a spec, the synthetic suite, …). */
export interface TaskData {
  readonly train: Dataset
  readonly valid: Dataset
}

/**
 * Runs the grid over `data`, which must hold every source and target task named in `o`; the engine
 * never loads tasks itself, so a study runs on user tasks and generated ones alike.
 */
export const runStudy = (env: Env, o: StudyOptions, store: CellStore, data: ReadonlyMap<string, TaskData>) =>
  Effect.gen(function* () {
    const t0 = performance.now()
    for (const name of new Set([...o.sources, ...o.targets])) {
      if (!data.has(name))
        return yield* Effect.fail(new InputError({ field: `task ${name}`, message: `no data for study task "${name}"` }))
    }
    const ds = (n: string) => data.get(n) as TaskData
    const sem = yield* Semaphore.make(Math.max(1, o.workers))
    let computed = 0
    const cell = <E, R>(key: string, work: Effect.Effect<Cell, E, R>) =>
      Effect.gen(function* () {
        const hit = yield* store.get(key)
        if (hit) return hit
        const c = yield* sem.withPermits(1)(work)
        yield* store.put(key, c)
        computed++
        yield* report({ kind: "info", message: `cell ${key}: ${c.score.toFixed(4)}` })
        return c
      })
    const srcOpts: TuneOptions = { ...o.tune, steps: o.sourceSteps }
    const tgtOpts: TuneOptions = { ...o.tune, steps: o.targetSteps }
    const embOpts: TuneOptions = { ...o.tune, steps: o.embeddingStep }
    const init = (seed: number) => sharedInit(env, o.tune.promptLength, seed)
    const tuned = (train: Dataset, valid: Dataset, from: HostTensor<"f32">, seed: number, opts: TuneOptions) =>
      Effect.map(tunePrompt(env, [train], valid, from, seed, opts), (r) => ({ score: r.bestScore, prompt: r.best }))
    /** A tuned prompt and the task's embedding (sources and baselines need both). */
    const tunedWithEmbedding = (train: Dataset, valid: Dataset, seed: number, opts: TuneOptions) =>
      Effect.zipWith(
        tuned(train, valid, init(seed), seed, opts),
        taskEmbedding(env, [train], valid, seed, embOpts),
        (c, embedding) => ({
          ...c,
          embedding,
        }),
      )

    // phase 1: source prompts and baselines, in parallel
    const srcKeys = o.sources.flatMap((s) => o.seeds.map((seed) => [s, seed] as const))
    const tgtKeys = o.targets.flatMap((t) => o.seeds.map((seed) => [t, seed] as const))
    const phase1 = yield* Effect.all(
      [
        ...srcKeys.map(([s, seed]) => cell(`source/${s}/${seed}`, tunedWithEmbedding(ds(s).train, ds(s).valid, seed, srcOpts))),
        ...tgtKeys.map(([t, seed]) => cell(`baseline/${t}/${seed}`, tunedWithEmbedding(ds(t).train, ds(t).valid, seed, tgtOpts))),
      ],
      { concurrency: "unbounded" },
    )
    const sourceCells = new Map(srcKeys.map(([s, seed], i) => [`${s}#${seed}`, phase1[i]]))
    const baseCells = new Map(tgtKeys.map(([t, seed], i) => [`${t}#${seed}`, phase1[srcKeys.length + i]]))

    // phase 2: every candidate into every target run
    const pairs = tgtKeys.flatMap(([t, seed]) => srcKeys.map(([s, cs]) => ({ t, seed, s, cs })))
    const transfers = yield* Effect.all(
      pairs.map(({ t, seed, s, cs }) =>
        cell(
          `transfer/${s}/${cs}/${t}/${seed}`,
          tuned(ds(t).train, ds(t).valid, sourceCells.get(`${s}#${cs}`)?.prompt as HostTensor<"f32">, seed, tgtOpts),
        ),
      ),
      { concurrency: "unbounded" },
    )
    const transfer = new Map(pairs.map((p, i) => [`${p.s}#${p.cs}->${p.t}#${p.seed}`, transfers[i].score]))

    // analysis
    const sim = (a: HostTensor<"f32"> | undefined, b: HostTensor<"f32"> | undefined) =>
      a && b ? o.similarity.score(o.similarity.summary(a), o.similarity.summary(b)) : 0
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
    const rer = o.targets.map((t) =>
      o.sources.map((s) =>
        mean(
          pairs
            .filter((p) => p.t === t && p.s === s)
            .map((p) =>
              relativeErrorReduction(
                baseCells.get(`${t}#${p.seed}`)?.score ?? 0,
                transfer.get(`${p.s}#${p.cs}->${p.t}#${p.seed}`) ?? 0,
              ),
            ),
        ),
      ),
    )
    const similarity = o.targets.map((t) =>
      o.sources.map((s) =>
        mean(
          pairs
            .filter((p) => p.t === t && p.s === s)
            .map((p) => sim(baseCells.get(`${t}#${p.seed}`)?.embedding, sourceCells.get(`${s}#${p.cs}`)?.embedding)),
        ),
      ),
    )
    const correlation = o.targets.map((t) => {
      const ps = pairs.filter((p) => p.t === t)
      return pearsonTest(
        ps.map((p) => sim(baseCells.get(`${t}#${p.seed}`)?.embedding, sourceCells.get(`${p.s}#${p.cs}`)?.embedding)),
        ps.map((p) =>
          relativeErrorReduction(
            baseCells.get(`${t}#${p.seed}`)?.score ?? 0,
            transfer.get(`${p.s}#${p.cs}->${p.t}#${p.seed}`) ?? 0,
          ),
        ),
      )
    })
    const nCand = srcKeys.length
    const perRun = tgtKeys.map(([t, seed]) => {
      const base = baseCells.get(`${t}#${seed}`)?.score ?? 0
      const ranked = srcKeys
        .map(([s, cs]) => ({
          s,
          cs,
          sim: sim(baseCells.get(`${t}#${seed}`)?.embedding, sourceCells.get(`${s}#${cs}`)?.embedding),
          score: transfer.get(`${s}#${cs}->${t}#${seed}`) ?? 0,
        }))
        .sort((a, b) => b.sim - a.sim || a.s.localeCompare(b.s) || a.cs - b.cs)
      return { base, ranked, oracle: Math.max(...ranked.map((r) => r.score)) }
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
    return {
      sources: o.sources,
      targets: o.targets,
      seeds: o.seeds,
      similarity_metric: o.similarity.name,
      rer,
      similarity,
      correlation,
      baseline,
      oracle,
      summary,
      candidates: nCand,
      cells: computed,
      seconds: (performance.now() - t0) / 1000,
    } satisfies StudyResult
  })
