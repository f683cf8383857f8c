/**
 * Optimizers as pure state transitions: `update(state, param, grad)` returns a new state and a new
 * parameter and mutates nothing. `adafactor` follows t5x's `adafactor.Adafactor` with the official
 * prompt-tuning gin settings (decay rate 0.8, step offset 0, no parameter scaling, no momentum,
 * clipping threshold 1, weight decay rate 1e-5 applied as `(1 − wd)·p`, factored only when the two
 * largest dimensions are ≥ 128; the lr, 0.3 constant, comes from the schedule). `adafactorHF` is
 * `transformers`' variant (every 2-D parameter factored, weight decay `p − wd·lr·p`), kept for
 * runs that must reproduce earlier numbers. Adam is the usual bias-corrected one.
 */
import type { HostTensor } from "../graph/tensor.ts"

export interface OptState {
  readonly step: number
  /** Named f32 slots (moments), each owned by this state. */
  readonly slots: Readonly<Record<string, Float32Array>>
}

export interface Optimizer {
  readonly name: string
  readonly init: (param: HostTensor<"f32">) => OptState
  /** `lr` is this step's learning rate (from a schedule). */
  readonly update: (
    state: OptState,
    param: HostTensor<"f32">,
    grad: HostTensor<"f32">,
    lr: number,
  ) => { state: OptState; param: HostTensor<"f32"> }
}

export interface AdafactorOptions {
  readonly decayRate?: number
  readonly eps1?: number
  readonly clipThreshold?: number
  readonly weightDecay?: number
}

const factored = (t: HostTensor) => t.shape.length >= 2

/** Adafactor (Shazeer & Stern 2018) as in `transformers.optimization.Adafactor`, without momentum. */
export const adafactorHF = (o: AdafactorOptions = {}): Optimizer => {
  const decay = o.decayRate ?? -0.8
  const eps1 = o.eps1 ?? 1e-30
  const clip = o.clipThreshold ?? 1
  const wd = o.weightDecay ?? 1e-5
  return {
    name: "adafactor-hf",
    init: (p): OptState => {
      if (!factored(p)) return { step: 0, slots: { v: new Float32Array(p.data.length) } }
      const cols = p.shape[p.shape.length - 1]
      const rows = p.data.length / cols
      return { step: 0, slots: { row: new Float32Array(rows), col: new Float32Array(cols) } }
    },
    update: (state, p, g, lr) => {
      const step = state.step + 1
      const beta2 = 1 - step ** decay
      const n = g.data.length
      const u = new Float64Array(n)
      const slots: Record<string, Float32Array> = {}
      if (factored(p)) {
        const cols = p.shape[p.shape.length - 1]
        const rows = n / cols
        const row = Float32Array.from(state.slots.row)
        const col = Float32Array.from(state.slots.col)
        const rMean = new Float64Array(rows)
        const cMean = new Float64Array(cols)
        for (let i = 0; i < rows; i++) {
          for (let j = 0; j < cols; j++) {
            const sq = g.data[i * cols + j] ** 2 + eps1
            rMean[i] += sq / cols
            cMean[j] += sq / rows
          }
        }
        for (let i = 0; i < rows; i++) row[i] = beta2 * row[i] + (1 - beta2) * rMean[i]
        for (let j = 0; j < cols; j++) col[j] = beta2 * col[j] + (1 - beta2) * cMean[j]
        let rowAvg = 0
        for (let i = 0; i < rows; i++) rowAvg += row[i] / rows
        for (let i = 0; i < rows; i++) {
          const rf = 1 / Math.sqrt(row[i] / rowAvg)
          for (let j = 0; j < cols; j++) u[i * cols + j] = g.data[i * cols + j] * rf * (1 / Math.sqrt(col[j]))
        }
        slots.row = row
        slots.col = col
      } else {
        const v = Float32Array.from(state.slots.v)
        for (let i = 0; i < n; i++) {
          v[i] = beta2 * v[i] + (1 - beta2) * (g.data[i] ** 2 + eps1)
          u[i] = g.data[i] / Math.sqrt(v[i])
        }
        slots.v = v
      }
      let ms = 0
      for (let i = 0; i < n; i++) ms += u[i] * u[i]
      const rms = Math.sqrt(ms / n)
      const scale = lr / Math.max(1, rms / clip)
      const out = new Float32Array(n)
      for (let i = 0; i < n; i++) out[i] = p.data[i] - p.data[i] * wd * lr - u[i] * scale
      return { state: { step, slots }, param: { dtype: "f32", shape: p.shape, data: out } }
    },
  }
}

export interface T5xAdafactorOptions {
  /** t5x's `decay_rate`: the second-moment decay is 1 − (t + 1)^(−decayRate). Default 0.8. */
  readonly decayRate?: number
  readonly eps1?: number
  readonly clipThreshold?: number
  /** t5x's `weight_decay_rate`: the new parameter is (1 − wd)·p − update. Default 1e-5 (gin). */
  readonly weightDecay?: number
  /** Factor the second moment only when the two largest dimensions are at least this (t5x: 128). */
  readonly minDimToFactor?: number
}

/**
 * t5x's heuristic factorisation: for a parameter of rank 2 whose two dimensions are both ≥ `min`,
 * the (row, column) axes — row = the smaller dimension (the second largest, t5x's `d1`), column =
 * the largest (`d0`; ties: the last axis). Anything else keeps a full second moment.
 */
export const factorAxes = (shape: readonly number[], min = 128): { row: number; col: number } | undefined => {
  if (shape.length !== 2) return undefined
  const col = shape[1] >= shape[0] ? 1 : 0
  const row = 1 - col
  return shape[row] >= min ? { row, col } : undefined
}

/** Adafactor as t5x's `adafactor.Adafactor` (no momentum, no parameter scaling), official prompt-tuning settings. */
export const adafactor = (o: T5xAdafactorOptions = {}): Optimizer => {
  const decay = o.decayRate ?? 0.8
  const eps1 = o.eps1 ?? 1e-30
  const clip = o.clipThreshold ?? 1
  const wd = o.weightDecay ?? 1e-5
  const min = o.minDimToFactor ?? 128
  return {
    name: "adafactor",
    init: (p): OptState => {
      const ax = factorAxes(p.shape, min)
      if (!ax) return { step: 0, slots: { v: new Float32Array(p.data.length) } }
      return { step: 0, slots: { row: new Float32Array(p.shape[ax.row]), col: new Float32Array(p.shape[ax.col]) } }
    },
    update: (state, p, g, lr) => {
      // t5x: decay = 1 − (t + 1)^(−0.8) with t the 0-based step count before this update
      const beta2 = 1 - (state.step + 1) ** -decay
      const n = g.data.length
      const y = new Float64Array(n)
      const slots: Record<string, Float32Array> = {}
      const ax = factorAxes(p.shape, min)
      if (ax) {
        const [R, C] = [p.shape[ax.row], p.shape[ax.col]]
        const stride = p.shape[1]
        const at = (r: number, c: number) => (ax.row === 0 ? r * stride + c : c * stride + r)
        const vr = Float32Array.from(state.slots.row)
        const vc = Float32Array.from(state.slots.col)
        const rMean = new Float64Array(R)
        const cMean = new Float64Array(C)
        for (let r = 0; r < R; r++) {
          for (let c = 0; c < C; c++) {
            const sq = g.data[at(r, c)] ** 2 + eps1
            rMean[r] += sq / C
            cMean[c] += sq / R
          }
        }
        for (let r = 0; r < R; r++) vr[r] = beta2 * vr[r] + (1 - beta2) * rMean[r]
        for (let c = 0; c < C; c++) vc[c] = beta2 * vc[c] + (1 - beta2) * cMean[c]
        let rowMean = 0
        for (let r = 0; r < R; r++) rowMean += vr[r] / R
        for (let r = 0; r < R; r++) {
          const rf = (vr[r] / rowMean) ** -0.5
          for (let c = 0; c < C; c++) y[at(r, c)] = g.data[at(r, c)] * rf * vc[c] ** -0.5
        }
        slots.row = vr
        slots.col = vc
      } else {
        const v = Float32Array.from(state.slots.v)
        for (let i = 0; i < n; i++) {
          v[i] = beta2 * v[i] + (1 - beta2) * (g.data[i] ** 2 + eps1)
          y[i] = g.data[i] * v[i] ** -0.5
        }
        slots.v = v
      }
      let ms = 0
      for (let i = 0; i < n; i++) ms += y[i] * y[i]
      const denom = Math.max(1, Math.sqrt(ms / n) / clip)
      const out = new Float32Array(n)
      for (let i = 0; i < n; i++) out[i] = (1 - wd) * p.data[i] - (lr * y[i]) / denom
      return { state: { step: state.step + 1, slots }, param: { dtype: "f32", shape: p.shape, data: out } }
    },
  }
}

export interface AdamOptions {
  readonly beta1?: number
  readonly beta2?: number
  readonly eps?: number
  /** Decoupled weight decay (AdamW). */
  readonly weightDecay?: number
}

export const adam = (o: AdamOptions = {}): Optimizer => {
  const b1 = o.beta1 ?? 0.9
  const b2 = o.beta2 ?? 0.999
  const eps = o.eps ?? 1e-8
  const wd = o.weightDecay ?? 0
  return {
    name: "adam",
    init: (p) => ({ step: 0, slots: { m: new Float32Array(p.data.length), v: new Float32Array(p.data.length) } }),
    update: (state, p, g, lr) => {
      const step = state.step + 1
      const m = Float32Array.from(state.slots.m)
      const v = Float32Array.from(state.slots.v)
      const c1 = 1 - b1 ** step
      const c2 = 1 - b2 ** step
      const out = new Float32Array(p.data.length)
      for (let i = 0; i < out.length; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g.data[i]
        v[i] = b2 * v[i] + (1 - b2) * g.data[i] ** 2
        out[i] = p.data[i] - lr * wd * p.data[i] - (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps)
      }
      return { state: { step, slots: { m, v } }, param: { dtype: "f32", shape: p.shape, data: out } }
    },
  }
}

/** Scales gradients so that their global L2 norm is at most `maxNorm`; returns the norm before. */
export const clipByGlobalNorm = (
  grads: readonly HostTensor<"f32">[],
  maxNorm: number,
): { grads: HostTensor<"f32">[]; norm: number } => {
  let sq = 0
  for (const g of grads) for (let i = 0; i < g.data.length; i++) sq += g.data[i] ** 2
  const norm = Math.sqrt(sq)
  if (!(maxNorm > 0) || norm <= maxNorm) return { grads: [...grads], norm }
  const s = maxNorm / norm
  return { grads: grads.map((g) => ({ ...g, data: g.data.map((x) => x * s) })), norm }
}

export type Schedule =
  | { readonly kind: "constant"; readonly lr: number }
  | { readonly kind: "warmup"; readonly lr: number; readonly warmup: number }
  | { readonly kind: "linear"; readonly lr: number; readonly warmup: number; readonly total: number }
  | { readonly kind: "inverse-sqrt"; readonly lr: number; readonly warmup: number }
  | { readonly kind: "cosine"; readonly lr: number; readonly warmup: number; readonly total: number }

/** Learning rate at 1-based `step`. */
export const lrAt = (s: Schedule, step: number): number => {
  switch (s.kind) {
    case "constant":
      return s.lr
    case "warmup":
      return step <= s.warmup ? (s.lr * step) / Math.max(1, s.warmup) : s.lr
    case "linear":
      return step <= s.warmup
        ? (s.lr * step) / Math.max(1, s.warmup)
        : s.lr * Math.max(0, (s.total - step) / Math.max(1, s.total - s.warmup))
    case "inverse-sqrt":
      return s.lr * Math.min(step / Math.max(1, s.warmup), Math.sqrt(Math.max(1, s.warmup) / step))
    case "cosine":
      return step <= s.warmup
        ? (s.lr * step) / Math.max(1, s.warmup)
        : 0.5 * s.lr * (1 + Math.cos(Math.PI * Math.min(1, (step - s.warmup) / Math.max(1, s.total - s.warmup))))
  }
}

export const SCHEDULES = ["constant", "warmup", "linear", "cosine", "inverse-sqrt"] as const
export type ScheduleKind = (typeof SCHEDULES)[number]

/** The schedule of a run of `total` steps: linear warmup over `warmup` steps, then the named decay. */
export const scheduleOf = (kind: ScheduleKind, lr: number, warmup: number, total: number): Schedule => {
  switch (kind) {
    case "constant":
      return { kind, lr }
    case "warmup":
    case "inverse-sqrt":
      return { kind, lr, warmup }
    case "linear":
    case "cosine":
      return { kind, lr, warmup, total }
  }
}
