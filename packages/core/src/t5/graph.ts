/**
 * The T5 encoder-decoder as an IR graph, for one static shape (batch, source length, prompt
 * length, target length). Weights are `input` nodes named as in Hugging Face checkpoints; the
 * per-call inputs are `prompt` [L, d], `input_ids` i32 [B, S], `attention_mask` f32 [B, S],
 * `decoder_input_ids` i32 [B, T] and `labels` i32 [B, T] (-100 = ignored).
 */

import { Result } from "effect"
import { grad } from "../graph/autodiff.ts"
import type { Node } from "../graph/ir.ts"
import * as ir from "../graph/ir.ts"
import { keyOf, uniformAt } from "../graph/random.ts"
import type { HostTensor } from "../graph/tensor.ts"
import type { T5Config } from "./config.ts"

export interface T5Shape {
  readonly batch: number
  readonly srcLen: number
  readonly promptLen: number
  readonly tgtLen: number
}

/** T5's relative position bucket (Hugging Face `_relative_position_bucket`), in f32 like PyTorch. */
export const relativeBucket = (rel: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number => {
  let buckets = 0
  let n = numBuckets
  let r = rel
  if (bidirectional) {
    n = Math.floor(n / 2)
    if (r > 0) buckets += n
    r = Math.abs(r)
  } else {
    r = -Math.min(r, 0)
  }
  const maxExact = Math.floor(n / 2)
  if (r < maxExact) return buckets + r
  const f = Math.fround
  const logRatio = f(Math.log(f(r / maxExact)))
  const scaled = f(f(f(logRatio / f(Math.log(maxDistance / maxExact))) * (n - maxExact)))
  return buckets + Math.min(maxExact + Math.trunc(scaled), n - 1)
}

/** Bucket ids [q, k] for query positions 0..q-1 against key positions 0..k-1. */
export const bucketTable = (q: number, k: number, bidirectional: boolean, c: T5Config): HostTensor<"i32"> => {
  const data = new Int32Array(q * k)
  for (let i = 0; i < q; i++) {
    for (let j = 0; j < k; j++) data[i * k + j] = relativeBucket(j - i, bidirectional, c.numBuckets, c.maxDistance)
  }
  return { dtype: "i32", shape: [q, k], data }
}

const NEG = -1e9

/** The Hugging Face names of every weight the graph reads. */
export const weightNames = (c: T5Config): string[] => {
  const names = ["shared.weight", "encoder.final_layer_norm.weight", "decoder.final_layer_norm.weight"]
  if (!c.tieWordEmbeddings) names.push("lm_head.weight")
  const ff = c.ffn === "relu" ? ["wi", "wo"] : ["wi_0", "wi_1", "wo"]
  for (const [stack, layers] of [
    ["encoder", c.numLayers],
    ["decoder", c.numDecoderLayers],
  ] as const) {
    names.push(`${stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`)
    for (let i = 0; i < layers; i++) {
      const b = `${stack}.block.${i}.layer`
      for (const p of ["q", "k", "v", "o"]) names.push(`${b}.0.SelfAttention.${p}.weight`)
      names.push(`${b}.0.layer_norm.weight`)
      const ffIdx = stack === "encoder" ? 1 : 2
      if (stack === "decoder") {
        for (const p of ["q", "k", "v", "o"]) names.push(`${b}.1.EncDecAttention.${p}.weight`)
        names.push(`${b}.1.layer_norm.weight`)
      }
      for (const p of ff) names.push(`${b}.${ffIdx}.DenseReluDense.${p}.weight`)
      names.push(`${b}.${ffIdx}.layer_norm.weight`)
    }
  }
  return names
}

/** Expected shape of each weight. */
export const weightShape = (c: T5Config, name: string): number[] => {
  const inner = c.numHeads * c.dKv
  if (name === "shared.weight" || name === "lm_head.weight") return [c.vocabSize, c.dModel]
  if (name.endsWith("relative_attention_bias.weight")) return [c.numBuckets, c.numHeads]
  if (name.endsWith("layer_norm.weight")) return [c.dModel]
  if (/\.(q|k|v)\.weight$/.test(name)) return [inner, c.dModel]
  if (name.endsWith(".o.weight")) return [c.dModel, inner]
  if (/\.wi(_0|_1)?\.weight$/.test(name)) return [c.dFf, c.dModel]
  if (name.endsWith(".wo.weight")) return [c.dModel, c.dFf]
  return []
}

export interface T5Graph {
  readonly encoderOut: Node
  readonly logits: Node
  /** Mean token cross-entropy over labels != -100. */
  readonly loss: Node
  /** Summed token cross-entropy per example [B]. */
  readonly nllPerExample: Node
  readonly prompt: Node
  readonly weight: (name: string) => Node
}

export interface BuildOptions {
  /**
   * Training-mode dropout (rate `dropout_rate`) at the places `transformers` applies it: embeddings,
   * attention probabilities, attention and feed-forward outputs, the feed-forward hidden layer and
   * each stack's final output. Each site is a mask input `dropout/<site>` (0 or 1/(1-p)) that the
   * caller generates from a seeded counter-based stream (`dropoutMasks`), so runs are reproducible.
   */
  readonly dropout?: boolean
}

/** Builds the graph; every node is shared, so asking for several outputs costs nothing extra. */
export const buildT5 = (c: T5Config, s: T5Shape, options: BuildOptions = {}): T5Graph => {
  const { batch: B, srcLen: S, promptLen: L, tgtLen: T } = s
  const d = c.dModel
  const H = c.numHeads
  const dk = c.dKv
  const N = L + S
  const weights = new Map<string, Node>()
  const W = (name: string) => {
    let w = weights.get(name)
    if (w === undefined) {
      w = ir.input(name, weightShape(c, name))
      weights.set(name, w)
    }
    return w
  }
  const linear = (x: Node, name: string) => ir.matmul(x, ir.transpose(W(name), [1, 0]))
  const useDropout = options.dropout === true && c.dropoutRate > 0
  const drop = (x: Node, site: string) => (useDropout ? ir.mul(x, ir.input(`dropout/${site}`, x.shape)) : x)
  const rms = (x: Node, name: string) => {
    const variance = ir.mean(ir.mul(x, x), -1, true)
    return ir.mul(ir.mul(x, ir.rsqrt(ir.add(variance, c.eps))), W(name))
  }
  const heads = (x: Node, len: number) => ir.transpose(ir.reshape(x, [B, len, H, dk]), [0, 2, 1, 3])
  const attention = (xq: Node, xkv: Node, qLen: number, kLen: number, prefix: string, bias: Node) => {
    const q = heads(linear(xq, `${prefix}.q.weight`), qLen)
    const k = heads(linear(xkv, `${prefix}.k.weight`), kLen)
    const v = heads(linear(xkv, `${prefix}.v.weight`), kLen)
    const scores = ir.add(ir.matmul(q, ir.mT(k)), bias) // T5: no 1/sqrt(d_kv)
    const ctx = ir.matmul(drop(ir.softmax(scores, -1), `${prefix}.probs`), v)
    return drop(linear(ir.reshape(ir.transpose(ctx, [0, 2, 1, 3]), [B, qLen, H * dk]), `${prefix}.o.weight`), `${prefix}.out`)
  }
  const ffn = (x: Node, prefix: string) => {
    const hidden =
      c.ffn === "relu"
        ? ir.relu(linear(x, `${prefix}.wi.weight`))
        : ir.mul(
            // gated-gelu is `gelu_new`, the IR's tanh-approximated `gelu` (one op, and one for its derivative)
            (c.ffn === "gated-gelu" ? ir.gelu : ir.relu)(linear(x, `${prefix}.wi_0.weight`)),
            linear(x, `${prefix}.wi_1.weight`),
          )
    return drop(linear(drop(hidden, `${prefix}.hidden`), `${prefix}.wo.weight`), `${prefix}.out`)
  }
  const positionBias = (q: number, k: number, bidirectional: boolean, stack: string) =>
    ir.reshape(
      ir.transpose(
        ir.gather(
          W(`${stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`),
          ir.constant(bucketTable(q, k, bidirectional, c)),
        ),
        [2, 0, 1],
      ),
      [1, H, q, k],
    )

  // ---- encoder ----
  const prompt = ir.input("prompt", [L, d])
  const ids = ir.input("input_ids", [B, S], "i32")
  const mask = ir.input("attention_mask", [B, S])
  const embedded = ir.gather(W("shared.weight"), ids)
  const h0 = L > 0 ? ir.concat([ir.broadcast(ir.reshape(prompt, [1, L, d]), [B, L, d]), embedded], 1) : embedded
  const fullMask = L > 0 ? ir.concat([ir.fill(1, [B, L]), mask], 1) : mask
  const additive = ir.reshape(ir.mul(ir.sub(ir.scalar(1), fullMask), NEG), [B, 1, 1, N])
  const encBias = ir.add(positionBias(N, N, true, "encoder"), additive)
  let h = drop(h0, "encoder.embeddings")
  for (let i = 0; i < c.numLayers; i++) {
    const b = `encoder.block.${i}.layer`
    const x = rms(h, `${b}.0.layer_norm.weight`)
    h = ir.add(h, attention(x, x, N, N, `${b}.0.SelfAttention`, encBias))
    h = ir.add(h, ffn(rms(h, `${b}.1.layer_norm.weight`), `${b}.1.DenseReluDense`))
  }
  const encoderOut = drop(rms(h, "encoder.final_layer_norm.weight"), "encoder.final")

  // ---- decoder ----
  const decIds = ir.input("decoder_input_ids", [B, T], "i32")
  const causal = new Float32Array(T * T)
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) causal[i * T + j] = NEG
  const selfBias = ir.add(positionBias(T, T, false, "decoder"), ir.constant({ dtype: "f32", shape: [1, 1, T, T], data: causal }))
  let y = drop(ir.gather(W("shared.weight"), decIds), "decoder.embeddings")
  for (let i = 0; i < c.numDecoderLayers; i++) {
    const b = `decoder.block.${i}.layer`
    const x = rms(y, `${b}.0.layer_norm.weight`)
    y = ir.add(y, attention(x, x, T, T, `${b}.0.SelfAttention`, selfBias))
    const x2 = rms(y, `${b}.1.layer_norm.weight`)
    y = ir.add(y, attention(x2, encoderOut, T, N, `${b}.1.EncDecAttention`, additive))
    y = ir.add(y, ffn(rms(y, `${b}.2.layer_norm.weight`), `${b}.2.DenseReluDense`))
  }
  let decOut = drop(rms(y, "decoder.final_layer_norm.weight"), "decoder.final")
  if (c.scaleDecoderOutputs) decOut = ir.mul(decOut, d ** -0.5)
  const logits = ir.matmul(decOut, ir.transpose(W(c.tieWordEmbeddings ? "shared.weight" : "lm_head.weight"), [1, 0]))

  // ---- loss ----
  const labels = ir.input("labels", [B, T], "i32")
  const target = ir.oneHot(labels, c.vocabSize) // rows of -100 are all zero
  const nll = ir.neg(ir.mul(target, ir.logSoftmax(logits, -1)))
  const nllPerExample = ir.sum(nll, [1, 2])
  const count = ir.sum(target)
  const loss = ir.div(ir.sum(nllPerExample), ir.add(count, ir.mul(ir.eq(count, ir.scalar(0)), 1))) // 0 labels: loss 0
  return { encoderOut, logits, loss, nllPerExample, prompt, weight: W }
}

/** The dropout mask inputs of a graph (name and shape). */
export const dropoutSites = (g: T5Graph): Array<{ name: string; shape: readonly number[] }> =>
  ir
    .topo([g.loss, g.logits, g.encoderOut])
    .flatMap((n) => (n.op.kind === "input" && n.op.name.startsWith("dropout/") ? [{ name: n.op.name, shape: n.shape }] : []))

/** Masks (0 or 1/(1-p)) for every dropout site, from the counter-based stream of `seed`. */
export const dropoutMasks = (
  sites: ReadonlyArray<{ name: string; shape: readonly number[] }>,
  rate: number,
  seed: number,
): Map<string, HostTensor<"f32">> => {
  const keep = 1 / (1 - rate)
  const out = new Map<string, HostTensor<"f32">>()
  for (const site of sites) {
    const n = site.shape.reduce((a, b) => a * b, 1)
    const data = new Float32Array(n)
    const key = keyOf(site.name)
    for (let i = 0; i < n; i++) data[i] = uniformAt(seed, key, i) < rate ? 0 : keep
    out.set(site.name, { dtype: "f32", shape: site.shape, data })
  }
  return out
}

/** The graph a prompt-tuning step runs (loss and prompt gradient) and its matmul FLOPs. */
export const stepFlops = (config: T5Config, shape: T5Shape): number => {
  const g = buildT5(config, shape)
  const d = grad(g.loss, [g.prompt])
  return Result.isSuccess(d) ? ir.matmulFlops([g.loss, ...d.success]) : Number.NaN
}
