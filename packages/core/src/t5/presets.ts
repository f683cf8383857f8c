/**
 * Randomly initialised T5 models of real shapes (no download): `random:t5-small`,
 * `random:t5-v1_1-small`, `random:t5-v1_1-base`, `random:t5-v1_1-large`, and `randomT5` for any config. Seeded, so a
 * preset names the same weights every time. Initialisation follows `transformers`' T5 `_init_weights`.
 */
import { keyOf, normal } from "../graph/random.ts"
import type { HostTensor } from "../graph/tensor.ts"
import { size } from "../graph/tensor.ts"
import type { T5Model } from "./checkpoint.ts"
import type { T5Config } from "./config.ts"
import { weightNames, weightShape } from "./graph.ts"

const base = {
  numBuckets: 32,
  maxDistance: 128,
  dropoutRate: 0.1,
  eps: 1e-6,
  padId: 0,
  eosId: 1,
  decoderStartId: 0,
} as const

export const PRESETS: Readonly<Record<string, T5Config>> = {
  "t5-small": {
    ...base,
    vocabSize: 32128,
    dModel: 512,
    dKv: 64,
    dFf: 2048,
    numLayers: 6,
    numDecoderLayers: 6,
    numHeads: 8,
    ffn: "relu",
    tieWordEmbeddings: true,
    scaleDecoderOutputs: true,
  },
  "t5-v1_1-small": {
    ...base,
    vocabSize: 32128,
    dModel: 512,
    dKv: 64,
    dFf: 1024,
    numLayers: 8,
    numDecoderLayers: 8,
    numHeads: 6,
    ffn: "gated-gelu",
    tieWordEmbeddings: false,
    scaleDecoderOutputs: false,
  },
  "t5-v1_1-base": {
    ...base,
    vocabSize: 32128,
    dModel: 768,
    dKv: 64,
    dFf: 2048,
    numLayers: 12,
    numDecoderLayers: 12,
    numHeads: 12,
    ffn: "gated-gelu",
    tieWordEmbeddings: false,
    scaleDecoderOutputs: false,
  },
  "t5-v1_1-large": {
    ...base,
    vocabSize: 32128,
    dModel: 1024,
    dKv: 64,
    dFf: 2816,
    numLayers: 24,
    numDecoderLayers: 24,
    numHeads: 16,
    ffn: "gated-gelu",
    tieWordEmbeddings: false,
    scaleDecoderOutputs: false,
  },
}

/** Standard deviation `transformers` uses for each weight (factor 1). */
const initStd = (c: T5Config, name: string): number => {
  if (name.endsWith("layer_norm.weight")) return 0
  if (name === "shared.weight" || name === "lm_head.weight") return 1
  if (name.endsWith("relative_attention_bias.weight")) return c.dModel ** -0.5
  if (/\.q\.weight$/.test(name)) return (c.dModel * c.dKv) ** -0.5
  if (/\.(k|v)\.weight$/.test(name)) return c.dModel ** -0.5
  if (name.endsWith(".o.weight")) return (c.numHeads * c.dKv) ** -0.5
  if (/\.wi(_0|_1)?\.weight$/.test(name)) return c.dModel ** -0.5
  return c.dFf ** -0.5 // wo
}

/** One seeded random weight of `config` (a writer can produce a large model a tensor at a time). */
export const randomWeight = (config: T5Config, name: string, seed = 0): HostTensor<"f32"> => {
  const shape = weightShape(config, name)
  const std = initStd(config, name)
  const data = std === 0 ? new Float32Array(size(shape)).fill(1) : normal(seed, keyOf(name), size(shape), std)
  return { dtype: "f32", shape, data }
}

/** A T5 with seeded random weights for `config`. */
export const randomT5 = (config: T5Config, seed = 0, source = "random"): T5Model => {
  const weights = new Map<string, HostTensor<"f32">>()
  for (const name of weightNames(config)) weights.set(name, randomWeight(config, name, seed))
  return { config, weights, source }
}
