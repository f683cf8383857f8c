/**
 * Decoding on a T5 runner: greedy generation and beam search as `transformers` does them, and
 * rank-classification scores of candidate targets.
 */
import { Effect, Result } from "effect"
import { toI32 } from "../graph/narrow.ts"
import type { HostTensor } from "../graph/tensor.ts"
import { toF32 } from "../graph/tensor.ts"
import type { Runner } from "./runner.ts"

/** What every decoding call reads: the prompt, the source batch and, for model tuning, current weights. */
export interface DecodeInput {
  readonly prompt: HostTensor
  /** Token ids [B, S]. */
  readonly inputIds: HostTensor
  /** 1 for real tokens, 0 for padding [B, S]. */
  readonly attentionMask: HostTensor
  /** Current weights when the runner was made with `feedWeights` (model tuning). */
  readonly weights?: ReadonlyMap<string, HostTensor<"f32">>
}

export interface GenerateOptions extends DecodeInput {
  readonly maxNewTokens: number
}

export interface BeamOptions extends GenerateOptions {
  /** Hypotheses kept per example; 1 is greedy decoding. */
  readonly beams: number
}

export interface RankOptions extends DecodeInput {
  /** Candidate targets as token ids, EOS included. */
  readonly candidates: readonly (readonly number[])[]
  /** Divide each score by its candidate's length (default: false). */
  readonly normalize?: boolean
}

/**
 * Greedy decoding as `transformers` does it: start from the decoder start token, append the argmax,
 * rows that produced EOS are padded afterwards, stop when every row finished or after `maxNewTokens`.
 * The decoder graph is compiled once at length `maxNewTokens`; causal attention makes the logits at
 * position t independent of the (padding) tokens after it.
 */
export const generateGreedy = (runner: Runner, { prompt, inputIds, attentionMask, maxNewTokens, weights }: GenerateOptions) =>
  Effect.gen(function* () {
    const c = runner.model.config
    const B = inputIds.shape[0]
    const T = maxNewTokens
    const seqs: number[][] = Array.from({ length: B }, () => [c.decoderStartId])
    const done = new Array<boolean>(B).fill(false)
    for (let step = 0; step < T; step++) {
      // labels such that shiftRight(labels) = current sequences padded
      const labels = new Int32Array(B * T).fill(c.padId)
      for (let b = 0; b < B; b++) for (let t = 1; t < seqs[b].length; t++) labels[b * T + t - 1] = seqs[b][t]
      const { logits } = yield* runner.run({
        prompt,
        batch: { inputIds, attentionMask, labels: { dtype: "i32", shape: [B, T], data: labels } },
        outputs: ["logits"],
        ...(weights ? { weights } : {}),
      })
      const V = c.vocabSize
      const data = (logits as HostTensor<"f32">).data
      for (let b = 0; b < B; b++) {
        if (done[b]) {
          seqs[b].push(c.padId)
          continue
        }
        const off = (b * T + step) * V
        let best = 0
        for (let v = 1; v < V; v++) if (data[off + v] > data[off + best]) best = v
        seqs[b].push(best)
        if (best === c.eosId) done[b] = true
      }
      if (done.every(Boolean)) break
    }
    const len = seqs[0].length
    return { dtype: "i32", shape: [B, len], data: Int32Array.from(seqs.flat()) } as HostTensor<"i32">
  })

/**
 * Rank classification: for each example and each candidate target (token ids, EOS included), the
 * summed token log-likelihood; `normalize` divides by the candidate's length. Returns [B, C].
 */
export const rankScores = (
  runner: Runner,
  { prompt, inputIds: rawIds, attentionMask, candidates, normalize = false, weights }: RankOptions,
) =>
  Effect.gen(function* () {
    const inputIds = yield* Effect.fromResult(toI32(rawIds, "input_ids"))
    const [B, S] = inputIds.shape
    const C = candidates.length
    const T = Math.max(1, ...candidates.map((c) => c.length))
    const ids = new Int32Array(B * C * S)
    const mask = new Float32Array(B * C * S)
    const labels = new Int32Array(B * C * T).fill(-100)
    const m = toF32(attentionMask).data
    for (let b = 0; b < B; b++) {
      for (let k = 0; k < C; k++) {
        const r = b * C + k
        ids.set(inputIds.data.subarray(b * S, (b + 1) * S), r * S)
        mask.set(m.subarray(b * S, (b + 1) * S), r * S)
        candidates[k].forEach((tok, t) => {
          labels[r * T + t] = tok
        })
      }
    }
    const { nllPerExample } = yield* runner.run({
      prompt,
      batch: {
        inputIds: { dtype: "i32", shape: [B * C, S], data: ids },
        attentionMask: { dtype: "f32", shape: [B * C, S], data: mask },
        labels: { dtype: "i32", shape: [B * C, T], data: labels },
      },
      outputs: ["nllPerExample"],
      ...(weights ? { weights } : {}),
    })
    const nll = (nllPerExample as HostTensor<"f32">).data
    const out = new Float32Array(B * C)
    for (let r = 0; r < B * C; r++) out[r] = -nll[r] / (normalize ? Math.max(1, candidates[r % C].length) : 1)
    return { dtype: "f32", shape: [B, C], data: out } as HostTensor<"f32">
  })

/**
 * Beam search with `beams` hypotheses per example, ranked by total log-likelihood (no length
 * penalty); finished hypotheses (EOS) keep their score. `beams = 1` is greedy decoding. Returns the
 * best sequence per example, start token first, padded with pad ids, like `generateGreedy`.
 */
export const generateBeam = (runner: Runner, { prompt, inputIds, attentionMask, maxNewTokens, beams, weights }: BeamOptions) =>
  Effect.gen(function* () {
    const c = runner.model.config
    const B = inputIds.shape[0]
    const S = inputIds.shape[1]
    const K = Math.max(1, Math.floor(beams))
    const T = maxNewTokens
    const V = c.vocabSize
    type Hyp = { tokens: number[]; logp: number; done: boolean }
    let hyps: Hyp[][] = Array.from({ length: B }, () => [{ tokens: [c.decoderStartId], logp: 0, done: false }])
    const ids = toI32(inputIds, "input_ids")
    if (Result.isFailure(ids)) return yield* ids.failure
    const mask = toF32(attentionMask)
    const rowsIds = new Int32Array(B * K * S)
    const rowsMask = new Float32Array(B * K * S)
    for (let b = 0; b < B; b++) {
      for (let k = 0; k < K; k++) {
        rowsIds.set(ids.success.data.subarray(b * S, (b + 1) * S), (b * K + k) * S)
        rowsMask.set(mask.data.subarray(b * S, (b + 1) * S), (b * K + k) * S)
      }
    }
    for (let step = 0; step < T; step++) {
      if (hyps.every((hs) => hs.every((h) => h.done))) break
      const labels = new Int32Array(B * K * T).fill(c.padId)
      for (let b = 0; b < B; b++) {
        for (let k = 0; k < K; k++) {
          const h = hyps[b][Math.min(k, hyps[b].length - 1)]
          for (let t = 1; t < h.tokens.length; t++) labels[(b * K + k) * T + t - 1] = h.tokens[t]
        }
      }
      const { logits } = yield* runner.run({
        prompt,
        batch: {
          inputIds: { dtype: "i32", shape: [B * K, S], data: rowsIds },
          attentionMask: { dtype: "f32", shape: [B * K, S], data: rowsMask },
          labels: { dtype: "i32", shape: [B * K, T], data: labels },
        },
        outputs: ["logits"],
        ...(weights ? { weights } : {}),
      })
      const data = (logits as HostTensor<"f32">).data
      hyps = hyps.map((hs, b) => {
        const next: Hyp[] = []
        hs.forEach((h, k) => {
          if (h.done) {
            next.push({ ...h, tokens: [...h.tokens, c.padId] })
            return
          }
          const off = ((b * K + k) * T + step) * V
          let mx = Number.NEGATIVE_INFINITY
          for (let v = 0; v < V; v++) mx = Math.max(mx, data[off + v])
          let z = 0
          for (let v = 0; v < V; v++) z += Math.exp(data[off + v] - mx)
          const lz = mx + Math.log(z)
          const order = Array.from({ length: V }, (_, v) => v).sort((x, y) => data[off + y] - data[off + x] || x - y)
          for (const v of order.slice(0, K))
            next.push({ tokens: [...h.tokens, v], logp: h.logp + data[off + v] - lz, done: v === c.eosId })
        })
        return next.sort((x, y) => y.logp - x.logp).slice(0, K)
      })
    }
    const len = Math.max(...hyps.flatMap((hs) => hs.map((h) => h.tokens.length)))
    const out = new Int32Array(B * len).fill(c.padId)
    hyps.forEach((hs, b) => {
      out.set(hs[0].tokens, b * len)
    })
    return { dtype: "i32", shape: [B, len], data: out } as HostTensor<"i32">
  })
