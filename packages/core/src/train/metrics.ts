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

/** Unweighted mean of per-class F1 over the classes seen in gold or predictions. */
export const macroF1 = (pred: readonly unknown[], gold: readonly unknown[]): number => {
  const classes = [...new Set([...gold, ...pred])]
  return classes.reduce((a: number, c) => a + f1(pred, gold, c), 0) / Math.max(1, classes.length)
}

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
