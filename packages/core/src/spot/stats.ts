/** Pearson correlation with its two-sided p-value (Student t with n − 2 degrees of freedom). */
import { pearson } from "../train/metrics.ts"

/** ln Γ(x) (Lanczos). */
const lnGamma = (x: number): number => {
  const g = [
    676.5203681218851, -1259.1392167224028, 771.3234287776531, -176.6150291621406, 12.507343278686905, -0.13857109526572012,
    9.984369578019572e-6, 1.5056327351493116e-7,
  ]
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x)
  const xx = x - 1
  let a = 0.9999999999998099
  for (let i = 0; i < g.length; i++) a += g[i] / (xx + i + 1)
  const t = xx + g.length - 0.5
  return 0.5 * Math.log(2 * Math.PI) + (xx + 0.5) * Math.log(t) - t + Math.log(a)
}

/** Continued fraction of the regularised incomplete beta (Numerical Recipes `betacf`). */
const betacf = (a: number, b: number, x: number): number => {
  const eps = 1e-14
  const tiny = 1e-300
  let c = 1
  let d = 1 - ((a + b) * x) / (a + 1)
  if (Math.abs(d) < tiny) d = tiny
  d = 1 / d
  let h = d
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m
    let aa = (m * (b - m) * x) / ((a - 1 + m2) * (a + m2))
    d = 1 + aa * d
    if (Math.abs(d) < tiny) d = tiny
    c = 1 + aa / c
    if (Math.abs(c) < tiny) c = tiny
    d = 1 / d
    h *= d * c
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + 1 + m2))
    d = 1 + aa * d
    if (Math.abs(d) < tiny) d = tiny
    c = 1 + aa / c
    if (Math.abs(c) < tiny) c = tiny
    d = 1 / d
    const del = d * c
    h *= del
    if (Math.abs(del - 1) < eps) break
  }
  return h
}

/** Regularised incomplete beta I_x(a, b). */
export const incompleteBeta = (x: number, a: number, b: number): number => {
  if (x <= 0) return 0
  if (x >= 1) return 1
  const bt = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x))
  return x < (a + 1) / (a + b + 2) ? (bt * betacf(a, b, x)) / a : 1 - (bt * betacf(b, a, 1 - x)) / b
}

/** Two-sided p-value of Student's t with `df` degrees of freedom. */
export const studentTwoSided = (t: number, df: number): number => incompleteBeta(df / (df + t * t), df / 2, 0.5)

export const pearsonTest = (x: readonly number[], y: readonly number[]): { r: number; p: number; n: number } => {
  const n = x.length
  const r = pearson(x, y)
  if (n < 3 || !Number.isFinite(r)) return { r: Number.isFinite(r) ? r : 0, p: 1, n }
  if (Math.abs(r) >= 1) return { r, p: 0, n }
  const t = r * Math.sqrt((n - 2) / (1 - r * r))
  return { r, p: studentTwoSided(t, n - 2), n }
}
