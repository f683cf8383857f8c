/**
 * Scoring of predicted strings as T5 scores its GLUE/SuperGLUE tasks: each prediction goes through
 * the task's postprocessor (t5/data/postprocessors.py), so an output that is not a label name, not a
 * number (STS-B) or not the referent (WSC) counts as wrong; then the task's metrics
 * (t5/data/glue_utils.py), as fractions (T5 reports them × 100). Tasks without a T5 format are
 * scored by comparing strings (`computeMetrics`).
 */
import type { Dataset } from "../data/dataset.ts"
import type { T5Format } from "../data/t5-formats.ts"
import * as M from "./metrics.ts"

/** T5's `string_label_to_class_id`: the index of the label name, -1 when it is none of them. */
export const labelToClassId = (s: string, labels: readonly string[]): number => labels.indexOf(s)

const PY_FLOAT = /^[+-]?(?:(?:\d(?:_?\d)*)?\.\d(?:_?\d)*|\d(?:_?\d)*\.?)(?:[eE][+-]?\d(?:_?\d)*)?$/
const PY_SPECIAL = /^[+-]?(?:nan|inf|infinity)$/i

/** T5's `string_to_float`: Python's `float(s)`, or `fallback` (-1) when it is not a number. */
export const stringToFloat = (s: string, fallback = -1): number => {
  const t = s.trim()
  if (PY_FLOAT.test(t)) return Number(t.replaceAll("_", ""))
  if (PY_SPECIAL.test(t)) {
    const neg = t.startsWith("-")
    return /nan/i.test(t) ? Number.NaN : neg ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY
  }
  return fallback
}

const DETERMINERS = new Set([
  "a",
  "an",
  "few",
  "her",
  "his",
  "each",
  "every",
  "many",
  "much",
  "my",
  "our",
  "some",
  "that",
  "the",
  "their",
  "these",
  "this",
  "those",
  "which",
  "whose",
  "your",
])

/**
 * T5's `wsc_simple` postprocessor: 1 when the prediction names the referent (ignoring case and
 * determiners; either word set containing the other), 0 when not, -1 for an empty prediction.
 */
export const wscPredictsReferent = (prediction: string, referent: string): number => {
  const clean = (s: string) =>
    s
      .trim()
      .toLowerCase()
      .split(" ")
      .filter((w) => !DETERMINERS.has(w))
      .join(" ")
  const p = clean(prediction)
  if (p === "") return -1
  const r = clean(referent)
  if (p.includes("'") !== r.includes("'")) return 0
  const pw = new Set(p.split(" "))
  const rw = new Set(r.split(" "))
  const subset = (a: Set<string>, b: Set<string>) => [...a].every((w) => b.has(w))
  return subset(pw, rw) || subset(rw, pw) ? 1 : 0
}

/** The first example of each group (T5's `deduplicate_metric`), or every example when none has a group. */
export const firstOfGroups = (ds: Dataset): number[] => {
  const seen = new Set<string>()
  const out: number[] = []
  ds.examples.forEach((e, i) => {
    if (e.group === undefined) out.push(i)
    else if (!seen.has(e.group)) {
      seen.add(e.group)
      out.push(i)
    }
  })
  return out
}

const pick = (names: readonly M.MetricName[], values: Partial<Record<M.MetricName, () => number>>) => {
  const out: Record<string, number> = {}
  for (const m of names) out[m] = values[m]?.() ?? Number.NaN
  return out
}

/** Metrics of `predictions` (aligned with `ds.examples`) under the task's T5 format. */
export const scoreFormatted = (ds: Dataset, format: T5Format, predictions: readonly string[]): Record<string, number> => {
  const ex = ds.examples
  const names = ds.task.metrics
  if (format.kind === "stsb") {
    const gold = ex.map((e) => stringToFloat(e.target))
    const pred = predictions.map((p) => stringToFloat(p))
    return pick(names, { pearson: () => M.pearson(gold, pred), spearman: () => M.spearman(gold, pred) })
  }
  if (format.kind === "record") {
    const keep = firstOfGroups(ds)
    const r = M.squad(
      keep.map((i) => ex[i].answers ?? [ex[i].target]),
      keep.map((i) => predictions[i]),
    )
    return pick(names, { squad_em: () => r.em, squad_f1: () => r.f1 })
  }
  if (format.kind === "wsc_simple" || format.kind === "wnli_simple") {
    const gold = ex.map((e) => (e.referentCorrect === undefined ? -1 : e.referentCorrect ? 1 : 0))
    const pred = predictions.map((p, i) => wscPredictsReferent(p, ex[i].target))
    return pick(names, { accuracy: () => M.accuracy(pred, gold) })
  }
  const gold = ex.map((e) => labelToClassId(e.target, format.labels))
  const pred = predictions.map((p) => labelToClassId(p, format.labels))
  return pick(names, {
    accuracy: () => M.accuracy(pred, gold),
    f1: () => M.f1WithInvalid(pred, gold),
    macro_f1: () =>
      M.macroF1(
        pred,
        gold,
        format.labels.map((_, i) => i),
      ),
    matthews: () => M.matthewsMulticlass(pred, gold),
    group_exact_match: () =>
      M.groupExactMatch(
        ex.map((e, i) => e.group ?? String(i)),
        pred,
        gold,
      ),
  })
}
