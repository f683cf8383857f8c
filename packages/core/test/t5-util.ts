/** Shared pieces of the T5 tests: random small configurations and random batches for them. */
import { Tensor } from "@spot/core"
import fc from "fast-check"
import type { T5Config as Config } from "../src/t5/config.ts"
import { rng } from "./util.ts"

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
