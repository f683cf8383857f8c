import { T5Config } from "@spot/core"
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"

describe("config.json", () => {
  const good = { vocab_size: 10, d_model: 4, d_kv: 2, d_ff: 8, num_layers: 1, num_heads: 2 }
  it("applies defaults and the decoder-output scaling rule", () => {
    const c = Result.getOrThrow(T5Config.decodeConfig(good))
    expect(c.numDecoderLayers).toBe(1)
    expect(c.scaleDecoderOutputs).toBe(true)
    expect(Result.getOrThrow(T5Config.decodeConfig({ ...good, tie_word_embeddings: false })).scaleDecoderOutputs).toBe(false)
    expect(
      Result.getOrThrow(T5Config.decodeConfig({ ...good, tie_word_embeddings: true, scale_decoder_outputs: false }))
        .scaleDecoderOutputs,
    ).toBe(false)
  })
  it("names the field of an unsupported or malformed value", () => {
    const field = (json: unknown) => {
      const r = T5Config.decodeConfig(json, "cfg.json")
      if (Result.isSuccess(r)) throw new Error("expected failure")
      expect(r.failure._tag).toBe("ConfigError")
      expect(r.failure.file).toBe("cfg.json")
      return r.failure.field
    }
    expect(field({ ...good, feed_forward_proj: "gated-silu" })).toBe("feed_forward_proj")
    expect(field({ ...good, d_model: 0 })).toBe("d_model")
    expect(field({ ...good, num_heads: 1.5 })).toBe("num_heads")
    expect(field({ ...good, model_type: "bart" })).toBe("model_type")
    expect(field({ ...good, dropout_rate: "x" })).toBe("dropout_rate")
    const { vocab_size: _, ...noVocab } = good
    expect(field(noVocab)).toBe("vocab_size")
    expect(field([])).toBe("(root)")
  })
  it("fuzz: any JSON value gives a config or a ConfigError, never a throw", () => {
    fc.assert(
      fc.property(fc.record({ ...Object.fromEntries(Object.keys(good).map((k) => [k, fc.jsonValue()])) }), (json) => {
        const r = T5Config.decodeConfig(json)
        if (Result.isFailure(r)) expect(r.failure._tag).toBe("ConfigError")
      }),
      { numRuns: 300 },
    )
  })
})
