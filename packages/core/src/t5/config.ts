/**
 * `config.json` of a Hugging Face T5 checkpoint, decoded with Effect Schema. Unsupported values are
 * rejected with the field named; keys this library does not use are ignored.
 */
import { Result, Schema, SchemaIssue } from "effect"
import { ConfigError } from "../errors.ts"

const NonNegInt = Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))
/** A positive integer with a sane upper bound (a config of 1e9 layers is refused, not allocated). */
const Bounded = (max: number) => Schema.Number.check(Schema.isInt(), Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(max))

/** Upper bounds of the sizes in config.json (generous: T5 XXL and mT5 are far below them). */
export const LIMITS = {
  vocab_size: 1 << 21,
  d_model: 1 << 15,
  d_kv: 1 << 12,
  d_ff: 1 << 18,
  num_layers: 256,
  num_heads: 1024,
  relative_attention_num_buckets: 4096,
  relative_attention_max_distance: 1 << 20,
} as const

export const T5ConfigJson = Schema.Struct({
  model_type: Schema.optionalKey(Schema.Literals(["t5", "mt5"])),
  is_encoder_decoder: Schema.optionalKey(Schema.Literal(true)),
  vocab_size: Bounded(LIMITS.vocab_size),
  d_model: Bounded(LIMITS.d_model),
  d_kv: Bounded(LIMITS.d_kv),
  d_ff: Bounded(LIMITS.d_ff),
  num_layers: Bounded(LIMITS.num_layers),
  num_decoder_layers: Schema.optionalKey(Schema.NullOr(Bounded(LIMITS.num_layers))),
  num_heads: Bounded(LIMITS.num_heads),
  relative_attention_num_buckets: Schema.optionalKey(Bounded(LIMITS.relative_attention_num_buckets)),
  relative_attention_max_distance: Schema.optionalKey(Bounded(LIMITS.relative_attention_max_distance)),
  dropout_rate: Schema.optionalKey(Schema.Number.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThan(1))),
  layer_norm_epsilon: Schema.optionalKey(Schema.Number.check(Schema.isGreaterThan(0))),
  feed_forward_proj: Schema.optionalKey(Schema.Literals(["relu", "gated-gelu", "gated-relu"])),
  tie_word_embeddings: Schema.optionalKey(Schema.Boolean),
  scale_decoder_outputs: Schema.optionalKey(Schema.Boolean),
  pad_token_id: Schema.optionalKey(NonNegInt),
  eos_token_id: Schema.optionalKey(NonNegInt),
  decoder_start_token_id: Schema.optionalKey(NonNegInt),
})

export interface T5Config {
  readonly vocabSize: number
  readonly dModel: number
  readonly dKv: number
  readonly dFf: number
  readonly numLayers: number
  readonly numDecoderLayers: number
  readonly numHeads: number
  readonly numBuckets: number
  readonly maxDistance: number
  readonly dropoutRate: number
  readonly eps: number
  readonly ffn: "relu" | "gated-gelu" | "gated-relu"
  readonly tieWordEmbeddings: boolean
  /** Multiply decoder outputs by d_model^-0.5 before the LM head (original T5). */
  readonly scaleDecoderOutputs: boolean
  readonly padId: number
  readonly eosId: number
  readonly decoderStartId: number
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** Decodes a parsed `config.json`; `file` names it in errors. */
export const decodeConfig = (json: unknown, file = "config.json"): Result.Result<T5Config, ConfigError> => {
  const r = Schema.decodeUnknownResult(T5ConfigJson)(json, { errors: "first" })
  if (Result.isFailure(r)) {
    const issue = formatter(r.failure.issue).issues[0]
    const field = (issue?.path ?? []).map((p) => String(typeof p === "object" ? p.key : p)).join(".") || "(root)"
    return Result.fail(new ConfigError({ file, field, message: `${field}: ${issue?.message ?? "invalid"}` }))
  }
  const c = r.success
  for (const k of ["pad_token_id", "eos_token_id", "decoder_start_token_id"] as const) {
    const id = c[k]
    if (id !== undefined && id >= c.vocab_size)
      return Result.fail(new ConfigError({ file, field: k, message: `${k}: ${id} is not below vocab_size ${c.vocab_size}` }))
  }
  const tie = c.tie_word_embeddings ?? true
  return Result.succeed({
    vocabSize: c.vocab_size,
    dModel: c.d_model,
    dKv: c.d_kv,
    dFf: c.d_ff,
    numLayers: c.num_layers,
    numDecoderLayers: c.num_decoder_layers ?? c.num_layers,
    numHeads: c.num_heads,
    numBuckets: c.relative_attention_num_buckets ?? 32,
    maxDistance: c.relative_attention_max_distance ?? 128,
    dropoutRate: c.dropout_rate ?? 0.1,
    eps: c.layer_norm_epsilon ?? 1e-6,
    ffn: c.feed_forward_proj ?? "relu",
    tieWordEmbeddings: tie,
    scaleDecoderOutputs: c.scale_decoder_outputs ?? tie,
    padId: c.pad_token_id ?? 0,
    eosId: c.eos_token_id ?? 1,
    decoderStartId: c.decoder_start_token_id ?? 0,
  })
}

/** The config back in Hugging Face form (for checkpoints this library writes). */
export const encodeConfig = (c: T5Config): Record<string, unknown> => ({
  architectures: ["T5ForConditionalGeneration"],
  model_type: "t5",
  is_encoder_decoder: true,
  vocab_size: c.vocabSize,
  d_model: c.dModel,
  d_kv: c.dKv,
  d_ff: c.dFf,
  num_layers: c.numLayers,
  num_decoder_layers: c.numDecoderLayers,
  num_heads: c.numHeads,
  relative_attention_num_buckets: c.numBuckets,
  relative_attention_max_distance: c.maxDistance,
  dropout_rate: c.dropoutRate,
  layer_norm_epsilon: c.eps,
  feed_forward_proj: c.ffn,
  dense_act_fn: c.ffn === "gated-gelu" ? "gelu_new" : "relu",
  is_gated_act: c.ffn !== "relu",
  tie_word_embeddings: c.tieWordEmbeddings,
  scale_decoder_outputs: c.scaleDecoderOutputs,
  pad_token_id: c.padId,
  eos_token_id: c.eosId,
  decoder_start_token_id: c.decoderStartId,
})
