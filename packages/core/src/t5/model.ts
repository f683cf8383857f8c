/**
 * What users call on a frozen T5 with a soft prompt: loss and prompt gradient for a batch, forward
 * outputs, greedy generation and rank-classification scores. Graphs are compiled once per shape
 * through the `Backend` service and cached in a `T5Runner`.
 */
import { Effect, Result } from "effect"
import { BackendError, InputError } from "../errors.ts"
import { grad } from "../graph/autodiff.ts"
import type { Session } from "../graph/backend.ts"
import { Backend } from "../graph/backend.ts"
import type { Node } from "../graph/ir.ts"
import { matmulFlops } from "../graph/ir.ts"
import { toI32 } from "../graph/narrow.ts"
import type { HostTensor } from "../graph/tensor.ts"
import { showShape } from "../graph/tensor.ts"
import type { T5Model } from "./checkpoint.ts"
import type { T5Shape } from "./graph.ts"
import { buildT5, dropoutMasks, dropoutSites } from "./graph.ts"

export interface T5Batch {
  /** Token ids [B, S] (i32 or i64). */
  readonly inputIds: HostTensor
  /** 1 for real tokens, 0 for padding [B, S] (any dtype). */
  readonly attentionMask: HostTensor
  /** Target ids [B, T]; -100 marks positions without loss. */
  readonly labels: HostTensor
}

export type TensorOutput = "loss" | "promptGrad" | "logits" | "encoderOut" | "nllPerExample"
export type Output = TensorOutput | "weightGrads"

export type RunResult = Partial<Record<TensorOutput, HostTensor<"f32">>> & {
  /** d loss / d weight for every weight, by Hugging Face name (model tuning). */
  weightGrads?: Map<string, HostTensor<"f32">>
}

const asF32Mask = (t: HostTensor): HostTensor<"f32"> => ({
  dtype: "f32",
  shape: t.shape,
  data: Float32Array.from(t.data as ArrayLike<number | bigint>, Number),
})

/** Decoder inputs: labels shifted right, starting with the decoder start token, -100 → pad. */
export const shiftRight = (labels: HostTensor<"i32">, startId: number, padId: number): HostTensor<"i32"> => {
  const [B, T] = labels.shape
  const out = new Int32Array(B * T)
  for (let b = 0; b < B; b++) {
    out[b * T] = startId
    for (let t = 1; t < T; t++) {
      const v = labels.data[b * T + t - 1]
      out[b * T + t] = v === -100 ? padId : v
    }
  }
  return { dtype: "i32", shape: [B, T], data: out }
}

/** Validates a prompt and a batch against the model and returns the graph feeds and shape. */
export const prepareFeeds = (
  model: T5Model,
  prompt: HostTensor,
  batch: T5Batch,
): Result.Result<{ feeds: Map<string, HostTensor>; shape: T5Shape }, InputError> =>
  Result.gen(function* () {
    const c = model.config
    if (prompt.dtype !== "f32" || prompt.shape.length !== 2 || prompt.shape[1] !== c.dModel) {
      return yield* Result.fail(
        new InputError({
          field: "prompt",
          message: `expected f32 [L, ${c.dModel}], got ${prompt.dtype} ${showShape(prompt.shape)}`,
        }),
      )
    }
    const ids = yield* toI32(batch.inputIds, "input_ids")
    const labels = yield* toI32(batch.labels, "labels")
    if (ids.shape.length !== 2) return yield* Result.fail(new InputError({ field: "input_ids", message: "expected [B, S]" }))
    const [B, S] = ids.shape
    if (labels.shape.length !== 2 || labels.shape[0] !== B) {
      return yield* Result.fail(
        new InputError({ field: "labels", message: `expected [${B}, T], got ${showShape(labels.shape)}` }),
      )
    }
    if (batch.attentionMask.shape.length !== 2 || batch.attentionMask.shape[0] !== B || batch.attentionMask.shape[1] !== S) {
      return yield* Result.fail(
        new InputError({
          field: "attention_mask",
          message: `expected [${B}, ${S}], got ${showShape(batch.attentionMask.shape)}`,
        }),
      )
    }
    const V = c.vocabSize
    const badId = ids.data.findIndex((v) => v < 0 || v >= V)
    if (badId >= 0) {
      return yield* Result.fail(
        new InputError({ field: "input_ids", message: `id ${ids.data[badId]} at ${badId} outside [0, ${V})` }),
      )
    }
    const badLabel = labels.data.findIndex((v) => v !== -100 && (v < 0 || v >= V))
    if (badLabel >= 0) {
      return yield* Result.fail(
        new InputError({
          field: "labels",
          message: `label ${labels.data[badLabel]} at ${badLabel} outside [0, ${V}) and not -100`,
        }),
      )
    }
    const mask = asF32Mask(batch.attentionMask)
    if (mask.data.some((v) => v !== 0 && v !== 1)) {
      return yield* Result.fail(new InputError({ field: "attention_mask", message: "values must be 0 or 1" }))
    }
    const feeds = new Map<string, HostTensor>([
      ["prompt", prompt],
      ["input_ids", ids],
      ["attention_mask", mask],
      ["labels", labels],
      ["decoder_input_ids", shiftRight(labels, c.decoderStartId, c.padId)],
    ])
    return { feeds, shape: { batch: B, srcLen: S, promptLen: prompt.shape[0], tgtLen: labels.shape[1] } }
  })

const shapeKey = (s: T5Shape, outs: readonly Output[], dropout: boolean) =>
  `${s.batch}x${s.srcLen}+${s.promptLen}->${s.tgtLen}:${outs.join(",")}${dropout ? ":dropout" : ""}`

/** Compiles (and caches) T5 graphs on the current Backend. */
export interface T5Runner {
  readonly model: T5Model
  readonly run: (
    prompt: HostTensor,
    batch: T5Batch,
    outputs: readonly Output[],
    /** Current weights when the runner was made with `feedWeights` (model tuning). */
    weights?: ReadonlyMap<string, HostTensor<"f32">>,
    /** Training mode: dropout masks drawn from this seed (absent: evaluation mode, no dropout). */
    dropoutSeed?: number,
  ) => Effect.Effect<RunResult, BackendError | InputError>
}

export interface RunnerOptions {
  /** Feed the weights on every run instead of binding them once (model tuning changes them). */
  readonly feedWeights?: boolean
}

export const makeRunner = (model: T5Model, options: RunnerOptions = {}) =>
  Effect.gen(function* () {
    const backend = yield* Backend
    const cache = new Map<string, Session>()
    const weightNamesList = [...model.weights.keys()]
    const sitesOf = new Map<string, Array<{ name: string; shape: readonly number[] }>>()
    const compile = (shape: T5Shape, outputs: readonly Output[], dropout: boolean) =>
      Effect.gen(function* () {
        const key = shapeKey(shape, outputs, dropout)
        const hit = cache.get(key)
        if (hit) return { session: hit, sites: sitesOf.get(key) ?? [] }
        const g = buildT5(model.config, shape, { dropout })
        const outs: Record<string, Node> = {}
        if (outputs.includes("loss")) outs.loss = g.loss
        if (outputs.includes("logits")) outs.logits = g.logits
        if (outputs.includes("encoderOut")) outs.encoderOut = g.encoderOut
        if (outputs.includes("nllPerExample")) outs.nllPerExample = g.nllPerExample
        const wantW = outputs.includes("weightGrads")
        if (outputs.includes("promptGrad") || wantW) {
          const wrt: Node[] = []
          if (outputs.includes("promptGrad")) wrt.push(g.prompt)
          const wNodes = wantW ? weightNamesList.map((n) => g.weight(n)) : []
          const grads = grad(g.loss, [...wrt, ...wNodes])
          if (Result.isFailure(grads)) {
            return yield* new BackendError({ backend: backend.name, op: grads.failure.op, message: grads.failure.message })
          }
          let i = 0
          if (outputs.includes("promptGrad")) outs.promptGrad = grads.success[i++]
          for (const n of weightNamesList) if (wantW) outs[`grad:${n}`] = grads.success[i++]
        }
        const session = yield* backend.compile({ outputs: outs }, options.feedWeights ? new Map() : model.weights)
        cache.set(key, session)
        sitesOf.set(key, dropoutSites(g))
        return { session, sites: sitesOf.get(key) ?? [] }
      })
    const run: T5Runner["run"] = (prompt, batch, outputs, weights, dropoutSeed) =>
      Effect.gen(function* () {
        const { feeds, shape } = yield* Effect.fromResult(prepareFeeds(model, prompt, batch))
        if (options.feedWeights) for (const [k, v] of weights ?? model.weights) feeds.set(k, v)
        const dropout = dropoutSeed !== undefined && model.config.dropoutRate > 0
        const { session, sites } = yield* compile(shape, outputs, dropout)
        if (dropout) for (const [k, v] of dropoutMasks(sites, model.config.dropoutRate, dropoutSeed)) feeds.set(k, v)
        const res = yield* session.run(feeds)
        const out: RunResult = {}
        for (const o of outputs) if (o !== "weightGrads" && res[o]) out[o] = res[o] as HostTensor<"f32">
        if (outputs.includes("weightGrads")) {
          out.weightGrads = new Map(weightNamesList.map((n) => [n, res[`grad:${n}`] as HostTensor<"f32">]))
        }
        return out
      })
    return { model, run } satisfies T5Runner
  })

/**
 * Greedy decoding as `transformers` does it: start from the decoder start token, append the argmax,
 * rows that produced EOS are padded afterwards, stop when every row finished or after `maxNewTokens`.
 * The decoder graph is compiled once at length `maxNewTokens`; causal attention makes the logits at
 * position t independent of the (padding) tokens after it.
 */
export const generateGreedy = (
  runner: T5Runner,
  prompt: HostTensor,
  inputIds: HostTensor,
  attentionMask: HostTensor,
  maxNewTokens: number,
  weights?: ReadonlyMap<string, HostTensor<"f32">>,
) =>
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
      const { logits } = yield* runner.run(
        prompt,
        { inputIds, attentionMask, labels: { dtype: "i32", shape: [B, T], data: labels } },
        ["logits"],
        weights,
      )
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
  runner: T5Runner,
  prompt: HostTensor,
  inputIds: HostTensor<"i32">,
  attentionMask: HostTensor,
  candidates: readonly (readonly number[])[],
  normalize = false,
  weights?: ReadonlyMap<string, HostTensor<"f32">>,
) =>
  Effect.gen(function* () {
    const [B, S] = inputIds.shape
    const C = candidates.length
    const T = Math.max(1, ...candidates.map((c) => c.length))
    const ids = new Int32Array(B * C * S)
    const mask = new Float32Array(B * C * S)
    const labels = new Int32Array(B * C * T).fill(-100)
    const m = asF32Mask(attentionMask).data
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
    const { nllPerExample } = yield* runner.run(
      prompt,
      {
        inputIds: { dtype: "i32", shape: [B * C, S], data: ids },
        attentionMask: { dtype: "f32", shape: [B * C, S], data: mask },
        labels: { dtype: "i32", shape: [B * C, T], data: labels },
      },
      ["nllPerExample"],
      weights,
    )
    const nll = (nllPerExample as HostTensor<"f32">).data
    const out = new Float32Array(B * C)
    for (let r = 0; r < B * C; r++) out[r] = -nll[r] / (normalize ? Math.max(1, candidates[r % C].length) : 1)
    return { dtype: "f32", shape: [B, C], data: out } as HostTensor<"f32">
  })

/** The graph a prompt-tuning step runs (loss and prompt gradient) and its matmul FLOPs. */
export const stepFlops = (model: T5Model, shape: T5Shape): number => {
  const g = buildT5(model.config, shape)
  const d = grad(g.loss, [g.prompt])
  return Result.isSuccess(d) ? matmulFlops([g.loss, ...d.success]) : Number.NaN
}

/**
 * Beam search with `beams` hypotheses per example, ranked by total log-likelihood (no length
 * penalty); finished hypotheses (EOS) keep their score. `beams = 1` is greedy decoding. Returns the
 * best sequence per example, start token first, padded with pad ids, like `generateGreedy`.
 */
export const generateBeam = (
  runner: T5Runner,
  prompt: HostTensor,
  inputIds: HostTensor,
  attentionMask: HostTensor,
  maxNewTokens: number,
  beams: number,
  weights?: ReadonlyMap<string, HostTensor<"f32">>,
) =>
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
    const mask = asF32Mask(attentionMask)
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
      const { logits } = yield* runner.run(
        prompt,
        {
          inputIds: { dtype: "i32", shape: [B * K, S], data: rowsIds },
          attentionMask: { dtype: "f32", shape: [B * K, S], data: rowsMask },
          labels: { dtype: "i32", shape: [B * K, T], data: labels },
        },
        ["logits"],
        weights,
      )
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
