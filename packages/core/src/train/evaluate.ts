/**
 * Evaluation of a prompt on a dataset, by one of two methods: `rank` (rank classification over the
 * verbalizer's strings: the prediction is always a valid label) or `decode` (greedy or beam
 * generation, then the task's postprocessor as T5 does: an output that is no label counts as wrong).
 * Then the task's metrics; the score checkpoints are selected by is their mean.
 */
import { Effect } from "effect"
import { encodeDataset, makeBatch } from "../data/batching.ts"
import type { Dataset } from "../data/dataset.ts"
import type { Tokenizer } from "../data/tokenizer.ts"
import { InputError } from "../errors.ts"
import type { HostTensor } from "../graph/tensor.ts"
import { generateBeam, generateGreedy, rankScores } from "../t5/decode.ts"
import type { Runner } from "../t5/runner.ts"
import * as M from "./metrics.ts"
import { firstOfGroups, scoreFormatted } from "./scoring.ts"

/** `rank`: rank classification over the task's label strings; `decode`: generation then postprocessing. */
export type EvalMethod = "rank" | "decode"

export interface EvalOptions {
  readonly batchSize?: number
  readonly maxSource?: number
  readonly maxTarget?: number
  /** Length-normalise rank-classification scores. */
  readonly normalize?: boolean
  readonly maxExamples?: number
  /** Beam width for generation (1: greedy). */
  readonly beams?: number
  readonly weights?: ReadonlyMap<string, HostTensor<"f32">>
  /** Default: `rank` for classification tasks, `decode` otherwise. */
  readonly method?: EvalMethod
}

export interface EvalResult {
  /** Which method produced the predictions (and so every number here). */
  readonly method: EvalMethod
  /** The mean of the task's metrics (`Metrics.taskScore`): the number checkpoints are selected by. */
  readonly score: number
  readonly metrics: Readonly<Record<string, number>>
  readonly predictions: readonly string[]
}

export const computeMetrics = (ds: Dataset, predictions: readonly string[], golds: readonly string[]): Record<string, number> => {
  if (ds.task.format) return scoreFormatted(ds, ds.task.format, predictions)
  const out: Record<string, number> = {}
  const positive = ds.task.positive ?? ds.candidates?.[ds.candidates.length - 1]
  const num = (xs: readonly string[]) => xs.map((x) => Number.parseFloat(x))
  for (const m of ds.task.metrics) {
    out[m] =
      m === "accuracy"
        ? M.accuracy(predictions, golds)
        : m === "f1"
          ? M.f1(predictions, golds, positive)
          : m === "macro_f1"
            ? M.macroF1(predictions, golds)
            : m === "matthews"
              ? M.matthews(predictions, golds, positive)
              : m === "pearson"
                ? M.pearson(
                    num(predictions).map((x) => (Number.isFinite(x) ? x : 0)),
                    num(golds),
                  )
                : m === "spearman"
                  ? M.spearman(
                      num(predictions).map((x) => (Number.isFinite(x) ? x : 0)),
                      num(golds),
                    )
                  : M.exactMatch(predictions, golds)
  }
  return out
}

export const evaluatePrompt = (runner: Runner, tok: Tokenizer, prompt: HostTensor, ds: Dataset, o: EvalOptions = {}) =>
  Effect.gen(function* () {
    const B = o.batchSize ?? 32
    const examples = ds.examples.slice(0, o.maxExamples ?? ds.examples.length)
    const sub = { ...ds, examples }
    const method: EvalMethod = o.method ?? (ds.candidates ? "rank" : "decode")
    if (method === "rank" && !ds.candidates)
      return yield* new InputError({
        field: "method",
        message: `rank classification needs a classification task; ${ds.task.name} has no label strings (use decode)`,
      })
    // ReCoRD repeats an input once per answer and T5 scores one copy: decode each input once
    const todo = ds.task.format?.kind === "record" ? firstOfGroups(sub) : examples.map((_, i) => i)
    const { items } = encodeDataset({ ...sub, examples: todo.map((i) => examples[i]) }, tok, {
      maxSource: o.maxSource ?? 512,
      maxTarget: o.maxTarget ?? 64,
    })
    const decoded: string[] = []
    const cands = method === "rank" ? ds.candidates?.map((c) => tok.encode(c)) : undefined
    for (let i = 0; i < items.length; i += B) {
      const chunk = items.slice(i, i + B)
      const batch = makeBatch(chunk, { rows: B, padId: tok.padId, maxSource: o.maxSource ?? 512 })
      if (cands && ds.candidates) {
        const scores = yield* rankScores(runner, {
          prompt,
          inputIds: batch.inputIds,
          attentionMask: batch.attentionMask,
          candidates: cands,
          normalize: o.normalize ?? false,
          ...(o.weights ? { weights: o.weights } : {}),
        })
        for (let r = 0; r < chunk.length; r++) {
          let best = 0
          for (let k = 1; k < cands.length; k++)
            if (scores.data[r * cands.length + k] > scores.data[r * cands.length + best]) best = k
          decoded.push(ds.candidates[best])
        }
      } else {
        const input = {
          prompt,
          inputIds: batch.inputIds,
          attentionMask: batch.attentionMask,
          maxNewTokens: o.maxTarget ?? 64,
          ...(o.weights ? { weights: o.weights } : {}),
        }
        const gen =
          (o.beams ?? 1) > 1
            ? yield* generateBeam(runner, { ...input, beams: o.beams ?? 1 })
            : yield* generateGreedy(runner, input)
        const len = gen.shape[1]
        for (let r = 0; r < chunk.length; r++) decoded.push(tok.decode(Array.from(gen.data.subarray(r * len + 1, (r + 1) * len))))
      }
    }
    const byGroup = new Map(todo.map((ex, k) => [examples[ex].group ?? `#${ex}`, decoded[k]]))
    const predictions = examples.map((e, i) =>
      todo.length === examples.length ? decoded[i] : (byGroup.get(e.group ?? `#${i}`) ?? ""),
    )
    const metrics = computeMetrics(
      sub,
      predictions,
      examples.map((e) => e.target),
    )
    return { method, score: M.taskScore(metrics), metrics, predictions } satisfies EvalResult
  })
