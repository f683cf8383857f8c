/**
 * The resume state of a training run (`state.safetensors`): parameters, optimizer slots, the best
 * parameters and the history, with the run's key in the metadata. Decoding checks every field
 * (types, ranges, shapes against the run's initial parameters, finiteness) and fails with a typed
 * `CheckpointError` naming the file and field; it never throws.
 */
import { Result } from "effect"
import { CheckpointError } from "../errors.ts"
import { decodeSafetensors, encodeSafetensors } from "../graph/safetensors.ts"
import type { HostTensor } from "../graph/tensor.ts"
import type { OptState } from "./optim.ts"

export interface HistoryEntry {
  readonly step: number
  readonly loss: number
  readonly score?: number
}

export interface Snapshot {
  step: number
  params: Map<string, HostTensor<"f32">>
  opt: Map<string, OptState>
  best: { step: number; score: number; params: Map<string, HostTensor<"f32">> }
  history: HistoryEntry[]
}

export const encodeState = (s: Snapshot, runKey: string): Uint8Array => {
  const tensors = new Map<string, HostTensor>()
  const optMeta: Record<string, { step: number; slots: Record<string, number[]> }> = {}
  for (const [k, v] of s.params) tensors.set(`param/${k}`, v)
  for (const [k, v] of s.best.params) tensors.set(`best/${k}`, v)
  for (const [k, st] of s.opt) {
    optMeta[k] = { step: st.step, slots: {} }
    for (const [slot, data] of Object.entries(st.slots)) {
      tensors.set(`opt/${k}/${slot}`, { dtype: "f32", shape: [data.length], data })
      optMeta[k].slots[slot] = [data.length]
    }
  }
  const meta = { runKey, step: s.step, bestStep: s.best.step, bestScore: s.best.score, history: s.history, opt: optMeta }
  return encodeSafetensors(tensors, { spot_state: JSON.stringify(meta) })
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x)
const isStep = (x: unknown, max: number): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0 && x <= max
const allFinite = (d: ArrayLike<number>) => {
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return false
  return true
}

/**
 * Decodes a resume state for a run of `steps` steps whose parameters have the shapes of `init`.
 * A state from another run configuration (`runKey`) is refused.
 */
export const decodeState = (
  bytes: Uint8Array,
  file: string,
  runKey: string,
  init: ReadonlyMap<string, HostTensor<"f32">>,
  steps: number,
): Result.Result<Snapshot, CheckpointError> => {
  const bad = (field: string, message: string) => Result.fail(new CheckpointError({ file, field, message }))
  const decoded = decodeSafetensors(bytes, file)
  if (Result.isFailure(decoded))
    return bad(decoded.failure.field ?? "file", `not a readable resume state: ${decoded.failure.message}`)
  const raw = decoded.success.metadata.spot_state
  if (!raw) return bad("spot_state", "not a resume state")
  let meta: unknown
  try {
    meta = JSON.parse(raw)
  } catch {
    return bad("spot_state", "metadata is not JSON")
  }
  if (!isObj(meta)) return bad("spot_state", "metadata is not an object")
  if (meta.runKey !== runKey)
    return bad("runKey", "the resume state belongs to a run with other settings (model, data, seed or options)")
  if (!isStep(meta.step, steps)) return bad("step", `must be an integer in [0, ${steps}], got ${JSON.stringify(meta.step)}`)
  if (
    typeof meta.bestStep !== "number" ||
    !Number.isSafeInteger(meta.bestStep) ||
    meta.bestStep < -1 ||
    meta.bestStep > meta.step
  )
    return bad("bestStep", `must be an integer in [-1, ${meta.step}], got ${JSON.stringify(meta.bestStep)}`)
  const bestScore = meta.bestScore === null && meta.bestStep === -1 ? Number.NEGATIVE_INFINITY : meta.bestScore
  if (typeof bestScore !== "number" || Number.isNaN(bestScore)) return bad("bestScore", "must be a number")
  if (!Array.isArray(meta.history) || meta.history.length > steps)
    return bad("history", "must be a list of at most one entry per step")
  for (const [i, h] of meta.history.entries()) {
    if (
      !isObj(h) ||
      !isStep(h.step, steps) ||
      typeof h.loss !== "number" ||
      (h.score !== undefined && h.score !== null && typeof h.score !== "number")
    )
      return bad(`history[${i}]`, "must be {step, loss, score?}")
  }
  if (!isObj(meta.opt)) return bad("opt", "must be an object")
  const tensors = decoded.success.tensors
  const params = new Map<string, HostTensor<"f32">>()
  const best = new Map<string, HostTensor<"f32">>()
  const opt = new Map<string, OptState>()
  for (const [name, want] of init) {
    for (const [prefix, into] of [
      ["param/", params],
      ["best/", best],
    ] as const) {
      const t = tensors.get(`${prefix}${name}`)
      if (!t) return bad(`${prefix}${name}`, "missing tensor")
      if (t.dtype !== "f32") return bad(`${prefix}${name}`, "expected f32")
      if (t.shape.length !== want.shape.length || t.shape.some((d, i) => d !== want.shape[i]))
        return bad(`${prefix}${name}`, `shape [${t.shape}] is not the run's [${want.shape}]`)
      if (!allFinite(t.data as Float32Array)) return bad(`${prefix}${name}`, "has non-finite values")
      into.set(name, t as HostTensor<"f32">)
    }
    const o = meta.opt[name]
    if (!isObj(o) || !isStep(o.step, steps) || !isObj(o.slots)) return bad(`opt.${name}`, "must be {step, slots}")
    const slots: Record<string, Float32Array> = {}
    for (const slot of Object.keys(o.slots)) {
      const t = tensors.get(`opt/${name}/${slot}`)
      if (t?.dtype !== "f32") return bad(`opt/${name}/${slot}`, "missing optimizer slot")
      if (!allFinite(t.data as Float32Array)) return bad(`opt/${name}/${slot}`, "has non-finite values")
      slots[slot] = t.data as Float32Array
    }
    opt.set(name, { step: o.step, slots })
  }
  return Result.succeed({
    step: meta.step,
    params,
    opt,
    best: { step: meta.bestStep, score: bestScore, params: best },
    history: meta.history as HistoryEntry[],
  })
}
