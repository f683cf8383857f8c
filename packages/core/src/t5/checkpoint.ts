/**
 * Loads a Hugging Face T5 checkpoint folder: `config.json` plus `model.safetensors` or a sharded
 * `model.safetensors.index.json`. Every weight the graph reads is checked for presence and shape.
 */
import { Effect, FileSystem, Path, Result } from "effect"
import { CheckpointError, ConfigError, type SafetensorsError } from "../errors.ts"
import { decodeSafetensors } from "../graph/safetensors.ts"
import type { HostTensor } from "../graph/tensor.ts"
import { sameShape, showShape } from "../graph/tensor.ts"
import type { T5Config } from "./config.ts"
import { decodeConfig } from "./config.ts"
import { weightNames, weightShape } from "./graph.ts"

export interface T5Model {
  readonly config: T5Config
  /** f32 weights by Hugging Face name (only those the graph reads). */
  readonly weights: ReadonlyMap<string, HostTensor<"f32">>
  /** Where it came from (folder or preset name). */
  readonly source: string
}

/** Checks a weight map against the config; `file` names the source in errors. */
export const validateWeights = (
  config: T5Config,
  tensors: ReadonlyMap<string, HostTensor>,
  file: string,
): Result.Result<{ config: T5Config; weights: Map<string, HostTensor<"f32">> }, CheckpointError> => {
  // The LM head is lm_head.weight when the checkpoint has it, else shared.weight.
  const hasHead = tensors.has("lm_head.weight")
  if (!config.tieWordEmbeddings && !hasHead) {
    return Result.fail(
      new CheckpointError({
        file,
        field: "lm_head.weight",
        message: "tie_word_embeddings is false but lm_head.weight is missing",
      }),
    )
  }
  const cfg: T5Config = { ...config, tieWordEmbeddings: !hasHead }
  const weights = new Map<string, HostTensor<"f32">>()
  for (const name of weightNames(cfg)) {
    const t = tensors.get(name)
    if (t === undefined) return Result.fail(new CheckpointError({ file, field: name, message: `missing tensor ${name}` }))
    if (t.dtype !== "f32") {
      return Result.fail(new CheckpointError({ file, field: name, message: `expected a float tensor, got ${t.dtype}` }))
    }
    const want = weightShape(cfg, name)
    if (!sameShape(t.shape, want)) {
      return Result.fail(
        new CheckpointError({
          file,
          field: name,
          message: `shape ${showShape(t.shape)} does not match config (expected ${showShape(want)})`,
        }),
      )
    }
    const d = t.data as Float32Array
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i]))
        return Result.fail(new CheckpointError({ file, field: name, message: `non-finite value (${d[i]}) at flat index ${i}` }))
    }
    weights.set(name, t as HostTensor<"f32">)
  }
  return Result.succeed({ config: cfg, weights })
}

const readJson = (fs: FileSystem.FileSystem, file: string) =>
  fs.readFileString(file).pipe(
    Effect.mapError((e) => new CheckpointError({ file, field: "file", message: e.message })),
    Effect.flatMap((text) =>
      Effect.try({
        try: () => JSON.parse(text) as unknown,
        catch: (e) => new CheckpointError({ file, field: "json", message: `not valid JSON: ${(e as Error).message}` }),
      }),
    ),
  )

/** Loads a checkpoint folder. */
/**
 * A model from bytes already in memory — `config.json` (parsed) and one `model.safetensors` — for
 * runtimes without a file system (browsers) or with their own (fetch, object stores).
 */
export const modelFromBytes = (
  configJson: unknown,
  safetensors: Uint8Array,
  source = "<memory>",
): Result.Result<T5Model, ConfigError | CheckpointError | SafetensorsError> =>
  Result.flatMap(decodeConfig(configJson, `${source}/config.json`), (config) =>
    Result.flatMap(decodeSafetensors(safetensors, `${source}/model.safetensors`), (file) =>
      Result.map(validateWeights(config, file.tensors, `${source}/model.safetensors`), (checked) => ({
        config: checked.config,
        weights: checked.weights,
        source,
      })),
    ),
  )

export const loadCheckpoint = (dir: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const configFile = path.join(dir, "config.json")
    if (!(yield* fs.exists(configFile).pipe(Effect.orElseSucceed(() => false)))) {
      return yield* new ConfigError({ file: configFile, field: "file", message: `no config.json in ${dir}` })
    }
    const config = yield* Effect.fromResult(
      decodeConfig(
        yield* readJson(fs, configFile).pipe(
          Effect.mapError((e) => new ConfigError({ file: e.file, field: e.field, message: e.message })),
        ),
        configFile,
      ),
    )
    const single = path.join(dir, "model.safetensors")
    const index = path.join(dir, "model.safetensors.index.json")
    const tensors = new Map<string, HostTensor>()
    const readOne = (file: string) =>
      Effect.gen(function* () {
        const bytes = yield* fs
          .readFile(file)
          .pipe(Effect.mapError((e) => new CheckpointError({ file, field: "file", message: e.message })))
        const decoded = yield* Effect.fromResult(decodeSafetensors(bytes, file))
        for (const [k, v] of decoded.tensors) tensors.set(k, v)
      })
    let source = single
    if (yield* fs.exists(single).pipe(Effect.orElseSucceed(() => false))) {
      yield* readOne(single)
    } else if (yield* fs.exists(index).pipe(Effect.orElseSucceed(() => false))) {
      source = index
      const json = yield* readJson(fs, index)
      const map = (json as { weight_map?: unknown }).weight_map
      if (typeof map !== "object" || map === null || Object.values(map).some((v) => typeof v !== "string")) {
        return yield* new CheckpointError({
          file: index,
          field: "weight_map",
          message: "weight_map must map tensor names to shard files",
        })
      }
      const shards = [...new Set(Object.values(map as Record<string, string>))]
      for (const shard of shards) {
        if (shard.includes("/") || shard.includes("\\") || shard.startsWith(".")) {
          return yield* new CheckpointError({
            file: index,
            field: "weight_map",
            message: `shard name ${shard} is not a plain file name`,
          })
        }
        yield* readOne(path.join(dir, shard))
      }
    } else if (yield* fs.exists(path.join(dir, "pytorch_model.bin")).pipe(Effect.orElseSucceed(() => false))) {
      return yield* new CheckpointError({
        file: path.join(dir, "pytorch_model.bin"),
        field: "format",
        message:
          "PyTorch pickle checkpoints are not read (they can run code). Convert once with Python: " +
          "`from transformers import T5ForConditionalGeneration as M; M.from_pretrained(DIR).save_pretrained(DIR, safe_serialization=True)`",
      })
    } else {
      return yield* new CheckpointError({
        file: single,
        field: "file",
        message: `no model.safetensors or model.safetensors.index.json in ${dir}`,
      })
    }
    const checked = yield* Effect.fromResult(validateWeights(config, tensors, source))
    return { config: checked.config, weights: checked.weights, source: dir } satisfies T5Model
  })

/** FNV-1a over bytes, hex. */
export const fnv1a = (bytes: Uint8Array, seed = 0x811c9dc5): string => {
  let h = seed >>> 0
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h.toString(16).padStart(8, "0")
}

/** Identifies a model: hash of its config and a checksum of its token embeddings. */
export const fingerprint = (m: T5Model): string => {
  const cfg = new TextEncoder().encode(JSON.stringify(m.config))
  const emb = m.weights.get("shared.weight") as HostTensor<"f32">
  return `${fnv1a(cfg)}-${fnv1a(new Uint8Array(emb.data.buffer, emb.data.byteOffset, emb.data.byteLength))}`
}
