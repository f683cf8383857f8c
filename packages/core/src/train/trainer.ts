/**
 * The training loop as an Effect program, generic over what is trained (a prompt, or all weights for
 * the model-tuning baseline). Each step reads its batch as a pure function of (seed, step), computes
 * the loss and gradients through the Backend (with exact gradient accumulation over micro-batches),
 * clips, and applies a pure optimizer transition. Every `evalEvery` steps it evaluates and keeps the
 * *best* checkpoint (ties: the earliest), the *last* one, and the *early* one at `embeddingStep` (the
 * task embedding). A resume state is written atomically after each evaluation, so a killed run,
 * resumed, ends with exactly the parameters of an uninterrupted run. A non-finite loss or gradient
 * stops training with `TrainingDiverged`, leaving the last good checkpoints intact.
 */
import { Effect, FileSystem, Path } from "effect"
import { CheckpointError, TrainingDiverged } from "../errors.ts"
import { fnv1a } from "../graph/hash.ts"
import { writeFileAtomic } from "../graph/safetensors.ts"
import type { HostTensor } from "../graph/tensor.ts"
import type { Optimizer, OptState, Schedule } from "./optim.ts"
import { clipByGlobalNorm, lrAt } from "./optim.ts"
import { report } from "./progress.ts"
import { decodeState, encodeState, type HistoryEntry, type Snapshot } from "./state.ts"

export type Params = ReadonlyMap<string, HostTensor<"f32">>

export interface TrainOptions {
  readonly steps: number
  readonly evalEvery: number
  /** Step whose parameters are saved as the *early* checkpoint (task embedding); 0: none. */
  readonly embeddingStep?: number
  readonly seed: number
  readonly optimizer: Optimizer
  readonly schedule: Schedule
  /** Global-norm gradient clipping; 0 or absent: none. */
  readonly clipNorm?: number
  /** Where best/last/early checkpoints and the resume state go; absent: nothing is written. */
  readonly checkpointDir?: string
  readonly resume?: boolean
  /** Identifies the run's configuration; a resume state from another configuration is refused. */
  readonly runKey: string
}

export interface Problem<E, R> {
  readonly init: Params
  /** Loss and gradients at 0-based `step` (the batch is a function of the step). */
  readonly lossAndGrads: (params: Params, step: number) => Effect.Effect<{ loss: number; grads: Params }, E, R>
  /** Validation score (higher is better). */
  readonly evaluate: (params: Params) => Effect.Effect<{ score: number; metrics: Readonly<Record<string, number>> }, E, R>
  /** Keeps a checkpoint of `params` (a file written atomically, or memory) and returns where. */
  readonly save: (
    which: "best" | "last" | "early",
    params: Params,
    meta: { step: number; score: number; metrics: Readonly<Record<string, number>> },
  ) => Effect.Effect<string, E, R>
}

export type { HistoryEntry } from "./state.ts"

export interface TrainResult {
  readonly params: Params
  readonly best: { readonly step: number; readonly score: number; readonly params: Params }
  readonly history: readonly HistoryEntry[]
  readonly resumedFrom: number
}

const STATE = "state.safetensors"

const finite = (p: Params) => {
  for (const t of p.values()) for (let i = 0; i < t.data.length; i++) if (!Number.isFinite(t.data[i])) return false
  return true
}

/** Runs (or resumes) training. */
export const train = <E, R>(problem: Problem<E, R>, o: TrainOptions) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = o.checkpointDir
    if (dir)
      yield* fs
        .makeDirectory(dir, { recursive: true })
        .pipe(Effect.mapError((e) => new CheckpointError({ file: dir, field: "dir", message: e.message })))
    const statePath = dir ? path.join(dir, STATE) : undefined
    let snap: Snapshot = {
      step: 0,
      params: new Map(problem.init),
      opt: new Map([...problem.init].map(([k, v]) => [k, o.optimizer.init(v)])),
      best: { step: -1, score: Number.NEGATIVE_INFINITY, params: new Map(problem.init) },
      history: [],
    }
    let resumedFrom = 0
    if (o.resume && statePath && (yield* fs.exists(statePath).pipe(Effect.orElseSucceed(() => false)))) {
      const bytes = yield* fs
        .readFile(statePath)
        .pipe(Effect.mapError((e) => new CheckpointError({ file: statePath, field: "file", message: e.message })))
      snap = yield* Effect.fromResult(decodeState(bytes, statePath, o.runKey, problem.init, o.steps))
      resumedFrom = snap.step
      yield* report({ kind: "resume", step: snap.step })
    }
    const saveState = (s: Snapshot) => (statePath ? writeFileAtomic(statePath, encodeState(s, o.runKey)) : Effect.void)
    const started = performance.now()
    while (snap.step < o.steps) {
      const step = snap.step // 0-based index of the step being taken
      const { loss, grads } = yield* problem.lossAndGrads(snap.params, step)
      if (!Number.isFinite(loss) || !finite(grads)) {
        return yield* new TrainingDiverged({
          step: step + 1,
          message: `non-finite ${Number.isFinite(loss) ? "gradient" : `loss (${loss})`} at step ${step + 1}`,
        })
      }
      const names = [...snap.params.keys()]
      const clipped = clipByGlobalNorm(
        names.map((n) => grads.get(n) as HostTensor<"f32">),
        o.clipNorm ?? 0,
      ).grads
      const lr = lrAt(o.schedule, step + 1)
      const params = new Map<string, HostTensor<"f32">>()
      const opt = new Map<string, OptState>()
      names.forEach((n, i) => {
        const r = o.optimizer.update(snap.opt.get(n) as OptState, snap.params.get(n) as HostTensor<"f32">, clipped[i], lr)
        params.set(n, r.param)
        opt.set(n, r.state)
      })
      const done = step + 1
      // a diverged update is never evaluated or saved: best/last/early/state keep the last good values
      if (!finite(params)) {
        return yield* new TrainingDiverged({
          step: done,
          message: `non-finite parameters after the update of step ${done} (learning rate ${lr}); the last good checkpoints are intact`,
        })
      }
      yield* Effect.yieldNow
      const history = [...snap.history, { step: done, loss }]
      snap = { ...snap, step: done, params, opt, history }
      yield* report({ kind: "step", step: done, total: o.steps, loss, lr, elapsedMs: performance.now() - started })
      if (o.embeddingStep && done === o.embeddingStep) {
        const p = yield* problem.save("early", params, { step: done, score: Number.NaN, metrics: {} })
        yield* report({ kind: "checkpoint", step: done, which: "early", path: p })
      }
      if (done % o.evalEvery === 0 || done === o.steps) {
        const ev = yield* problem.evaluate(params)
        history[history.length - 1] = { step: done, loss, score: ev.score }
        if (ev.score > snap.best.score) {
          snap = { ...snap, best: { step: done, score: ev.score, params } }
          const p = yield* problem.save("best", params, { step: done, score: ev.score, metrics: ev.metrics })
          yield* report({ kind: "checkpoint", step: done, which: "best", path: p })
        }
        yield* report({
          kind: "eval",
          step: done,
          total: o.steps,
          score: ev.score,
          best: snap.best.score,
          bestStep: snap.best.step,
        })
        yield* problem.save("last", params, { step: done, score: ev.score, metrics: ev.metrics })
        yield* saveState(snap)
      }
    }
    return { params: snap.params, best: snap.best, history: snap.history, resumedFrom } satisfies TrainResult
  })

/** A short stable hash of a run's settings. */
export const runKeyOf = (parts: unknown): string => fnv1a(new TextEncoder().encode(JSON.stringify(parts)))

/**
 * The run key of a training run from what determines its result — the model's fingerprint, the
 * examples (not the names of the files they came from; an indexed file by the digest of its bytes), the initial parameters and the options —
 * so that a moved or relatively named data file or checkpoint folder still resumes.
 */
export const runKeyFor = (parts: {
  readonly model: string
  /** Datasets in memory (their examples are hashed), or indexed files (their digest is). */
  readonly data: ReadonlyArray<{ readonly examples: readonly unknown[] } | { readonly digest: string }>
  readonly init: Params
  readonly options: Readonly<Record<string, unknown>>
}): string => {
  const enc = new TextEncoder()
  let h = fnv1a(enc.encode(parts.model))
  for (const d of parts.data) {
    if ("examples" in d) for (const e of d.examples) h = fnv1a(enc.encode(JSON.stringify(e)), Number.parseInt(h, 16))
    else h = fnv1a(enc.encode(`indexed:${d.digest}`), Number.parseInt(h, 16))
  }
  for (const [k, t] of [...parts.init].sort(([a], [b]) => (a < b ? -1 : 1))) {
    h = fnv1a(enc.encode(`${k}:${t.shape}`), Number.parseInt(h, 16))
    h = fnv1a(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), Number.parseInt(h, 16))
  }
  return `${h}-${runKeyOf(parts.options)}`
}
