/** Shared pieces of the T5 tests: random small configurations and random batches for them. */
import { T5Presets, Tensor } from "@spot/core"
import fc from "fast-check"
import type { T5Config as Config } from "../src/t5/config.ts"
import { randomTensor, rng } from "./util.ts"

/**
 * A tiny T5 v1.1 configuration (the `t5-v1_1-small` preset's activations, tying and ids) at test
 * sizes: d_model 8, 2 heads of 4, one layer each side, no dropout, unless `sizes` says otherwise.
 */
export const tinyConfig = (sizes: Partial<Config> = {}): Config => ({
  ...T5Presets.PRESETS["t5-v1_1-small"],
  vocabSize: 13,
  dModel: 8,
  dKv: 4,
  dFf: 8,
  numLayers: 1,
  numDecoderLayers: 1,
  numHeads: 2,
  numBuckets: 4,
  maxDistance: 8,
  dropoutRate: 0,
  ...sizes,
})

export const smallConfig = fc.record({
  vocabSize: fc.integer({ min: 5, max: 40 }),
  dModel: fc.integer({ min: 2, max: 8 }),
  dKv: fc.integer({ min: 1, max: 4 }),
  dFf: fc.integer({ min: 1, max: 8 }),
  numLayers: fc.integer({ min: 1, max: 2 }),
  numDecoderLayers: fc.integer({ min: 1, max: 3 }),
  numHeads: fc.integer({ min: 1, max: 3 }),
  numBuckets: fc.integer({ min: 2, max: 10 }),
  maxDistance: fc.integer({ min: 4, max: 30 }),
  dropoutRate: fc.constant(0),
  eps: fc.constant(1e-6),
  ffn: fc.constantFrom("relu" as const, "gated-gelu" as const, "gated-relu" as const),
  tieWordEmbeddings: fc.boolean(),
  scaleDecoderOutputs: fc.boolean(),
  padId: fc.constant(0),
  eosId: fc.constant(1),
  decoderStartId: fc.constant(0),
})

export const batchFor = (c: Config, B: number, S: number, T: number, seed: number) => {
  const r = rng(seed)
  const ids = Tensor.i32(
    [B, S],
    Array.from({ length: B * S }, () => 2 + Math.floor(r() * (c.vocabSize - 2))),
  )
  const mask = Tensor.f32(
    [B, S],
    Array.from({ length: B * S }, (_, i) => (i % S === 0 || r() < 0.7 ? 1 : 0)),
  )
  const labels = Tensor.i32(
    [B, T],
    Array.from({ length: B * T }, (_, i) => (i % T > 0 && r() < 0.2 ? -100 : Math.floor(r() * c.vocabSize))),
  )
  return { inputIds: ids, attentionMask: mask, labels }
}

/** A decoding case: a small random config, B (1–3) rows, and from `seed` a model, a batch (S 3, T 2) and a 2-row prompt. */
export const decodeCase = fc
  .tuple(smallConfig, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 1000 }))
  .map(([c, B, seed]) => ({
    c,
    B,
    seed,
    model: T5Presets.randomT5(c, seed),
    b: batchFor(c, B, 3, 2, seed),
    prompt: randomTensor([2, c.dModel], seed),
  }))
