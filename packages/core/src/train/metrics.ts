/** Evaluation metrics (as fractions in [0, 1] or correlations in [-1, 1]) and their summaries. */

export const accuracy = (pred: readonly unknown[], gold: readonly unknown[]): number =>
  gold.length === 0 ? Number.NaN : pred.filter((p, i) => p === gold[i]).length / gold.length

/** F1 of the `positive` class. */
export const f1 = (pred: readonly unknown[], gold: readonly unknown[], positive: unknown): number => {
  let tp = 0
  let fp = 0
  let fn = 0
  pred.forEach((p, i) => {
    if (p === positive && gold[i] === positive) tp++
    else if (p === positive) fp++
    else if (gold[i] === positive) fn++
  })
  return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn)
}

/**
 * Unweighted mean of per-class F1: over `labels` when given (sklearn's `f1_score(average="macro",
 * labels=…)`, which T5 uses for CB with labels 0..2: a prediction outside them is only a miss), else over
 * the classes seen in gold or predictions.
 */
export const macroF1 = (pred: readonly unknown[], gold: readonly unknown[], labels?: readonly unknown[]): number => {
  const classes = labels ?? [...new Set([...gold, ...pred])]
  return classes.reduce((a: number, c) => a + f1(pred, gold, c), 0) / Math.max(1, classes.length)
}

/**
 * T5's `f1_score_with_invalid`: binary F1 of class 1 over class ids, where a prediction that is neither
 * 0 nor 1 (an output the postprocessor could not map, id -1) counts as wrong.
 */
export const f1WithInvalid = (pred: readonly number[], gold: readonly number[]): number =>
  f1(
    pred.map((p, i) => (p === 0 || p === 1 ? p : 1 - gold[i])),
    gold,
    1,
  )

/**
 * Matthews correlation over any number of classes (sklearn's `matthews_corrcoef`, Gorodkin's R_K), so an
 * invalid prediction is a class of its own as in T5's CoLA score; for two classes it is the usual MCC.
 * 0 when undefined (a constant prediction or gold), as sklearn returns.
 */
export const matthewsMulticlass = (pred: readonly unknown[], gold: readonly unknown[]): number => {
  const n = gold.length
  const p = new Map<unknown, number>()
  const t = new Map<unknown, number>()
  let c = 0
  for (let i = 0; i < n; i++) {
    p.set(pred[i], (p.get(pred[i]) ?? 0) + 1)
    t.set(gold[i], (t.get(gold[i]) ?? 0) + 1)
    if (pred[i] === gold[i]) c++
  }
  let pt = 0
  for (const [k, v] of p) pt += v * (t.get(k) ?? 0)
  const sq = (m: Map<unknown, number>) => [...m.values()].reduce((a, v) => a + v * v, 0)
  const den = Math.sqrt((n * n - sq(p)) * (n * n - sq(t)))
  return den === 0 ? 0 : Math.max(-1, Math.min(1, (c * n - pt) / den))
}

/** Python's `str.split()` whitespace. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: Python counts the separators \x1c-\x1f as whitespace
const PY_SPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/
const pySplit = (s: string): string[] => s.split(PY_SPACE).filter((w) => w !== "")
const ASCII_PUNCT = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g
const ARTICLES = /(?<![\p{L}\p{N}_])(?:a|an|the)(?![\p{L}\p{N}_])/gu

/** The SQuAD evaluation script's normalisation (T5's `normalize_squad`): lower, no punctuation or articles, single spaces. */
export const normalizeSquad = (s: string): string =>
  pySplit(s.toLowerCase().replace(ASCII_PUNCT, "").replace(ARTICLES, " ")).join(" ")

/** Token F1 of two normalised strings (bag of whitespace tokens); 0 when they share none. */
export const tokenF1 = (target: string, prediction: string): number => {
  const pt = pySplit(prediction)
  const tt = pySplit(target)
  const count = new Map<string, number>()
  for (const w of tt) count.set(w, (count.get(w) ?? 0) + 1)
  let same = 0
  for (const w of pt) {
    const k = count.get(w) ?? 0
    if (k > 0) {
      same++
      count.set(w, k - 1)
    }
  }
  if (same === 0) return 0
  const precision = same / pt.length
  const recall = same / tt.length
  return (2 * precision * recall) / (precision + recall)
}

/** SQuAD metrics as T5's `squad`: per question the best over its answers, after normalisation; means. */
export const squad = (answers: readonly (readonly string[])[], predictions: readonly string[]): { em: number; f1: number } => {
  if (answers.length === 0) return { em: Number.NaN, f1: Number.NaN }
  let em = 0
  let f = 0
  for (let i = 0; i < answers.length; i++) {
    const p = normalizeSquad(predictions[i])
    const ts = answers[i].map(normalizeSquad)
    em += ts.some((t) => t === p) ? 1 : 0
    f += Math.max(0, ...ts.map((t) => tokenF1(t, p)))
  }
  return { em: em / answers.length, f1: f / answers.length }
}

/** T5's `mean_group_metric(all_match)`: the share of groups whose every prediction equals its gold. */
export const groupExactMatch = (groups: readonly string[], pred: readonly unknown[], gold: readonly unknown[]): number => {
  const all = new Map<string, boolean>()
  groups.forEach((g, i) => {
    all.set(g, (all.get(g) ?? true) && pred[i] === gold[i])
  })
  return all.size === 0 ? Number.NaN : [...all.values()].filter(Boolean).length / all.size
}

/** A task's score (the mean of its metrics): what checkpoints are selected by. */
export { taskScore } from "../data/metric-names.ts"

/** Matthews correlation for binary labels (`positive` vs the rest). */
export const matthews = (pred: readonly unknown[], gold: readonly unknown[], positive: unknown): number => {
  let tp = 0
  let tn = 0
  let fp = 0
  let fn = 0
  pred.forEach((p, i) => {
    const pp = p === positive
    const gp = gold[i] === positive
    if (pp && gp) tp++
    else if (!pp && !gp) tn++
    else if (pp) fp++
    else fn++
  })
  const den = Math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
  return den === 0 ? 0 : (tp * tn - fp * fn) / den
}

export const pearson = (x: readonly number[], y: readonly number[]): number => {
  const n = x.length
  if (n < 2) return Number.NaN
  const mx = x.reduce((a, b) => a + b, 0) / n
  const my = y.reduce((a, b) => a + b, 0) / n
  let sxy = 0
  let sxx = 0
  let syy = 0
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my)
    sxx += (x[i] - mx) ** 2
    syy += (y[i] - my) ** 2
  }
  return sxx === 0 || syy === 0 ? 0 : sxy / Math.sqrt(sxx * syy)
}

/** Average ranks (ties share the mean rank), 1-based. */
export const ranks = (x: readonly number[]): number[] => {
  const idx = x.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0])
  const r = new Array<number>(x.length)
  for (let i = 0; i < idx.length; ) {
    let j = i
    while (j + 1 < idx.length && idx[j + 1][0] === idx[i][0]) j++
    for (let k = i; k <= j; k++) r[idx[k][1]] = (i + j) / 2 + 1
    i = j + 1
  }
  return r
}

export const spearman = (x: readonly number[], y: readonly number[]): number => pearson(ranks(x), ranks(y))

/** Exact match after trimming and collapsing whitespace. */
export const exactMatch = (pred: readonly string[], gold: readonly string[]): number => {
  const norm = (s: string) => s.trim().replace(/\s+/g, " ")
  return gold.length === 0 ? Number.NaN : pred.filter((p, i) => norm(p) === norm(gold[i])).length / gold.length
}

export const meanStd = (xs: readonly number[]): { mean: number; std: number } => {
  const n = xs.length
  if (n === 0) return { mean: Number.NaN, std: Number.NaN }
  const mean = xs.reduce((a, b) => a + b, 0) / n
  const std = n < 2 ? 0 : Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1))
  return { mean, std }
}

/** Relative error reduction of `score` over `baseline` (scores in [0, 1]): (e_b - e_s) / e_b. */
export const relativeErrorReduction = (baseline: number, score: number): number => {
  const eb = 1 - baseline
  return eb === 0 ? 0 : (eb - (1 - score)) / eb
}

export type { MetricName } from "../data/metric-names.ts"
