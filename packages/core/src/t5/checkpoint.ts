/**
 * Loads a Hugging Face T5 checkpoint folder: `config.json` plus `model.safetensors` or a sharded
 * `model.safetensors.index.json`. Every weight the graph reads is checked for presence and shape.
 */
import { Effect, FileSystem, Path, Result } from "effect"
import { CheckpointError, ConfigError, type SafetensorsError } from "../errors.ts"
import { fnv1a } from "../graph/hash.ts"
import {
  decodeSafetensors,
  encodeSafetensors,
  openSafetensors,
  type SafetensorsReader,
  writeFileAtomic,
} from "../graph/safetensors.ts"
import type { HostTensor } from "../graph/tensor.ts"
import { sameShape, showShape } from "../graph/tensor.ts"
import type { T5Config } from "./config.ts"
import { decodeConfig, encodeConfig } from "./config.ts"
import { weightNames, weightShape } from "./graph.ts"

export interface T5Model {
  readonly config: T5Config
  /** f32 weights by Hugging Face name (only those the graph reads). */
  readonly weights: ReadonlyMap<string, HostTensor<"f32">>
  /** Where it came from (folder or preset name). */
  readonly source: string
}

/** What the checks read of a tensor: enough to validate a file's header before reading any data. */
export interface TensorInfo {
  readonly dtype: string
  readonly shape: readonly number[]
}

const FLOAT = new Set(["f32", "F32", "F16", "BF16"])

/**
 * Checks tensors (or header entries) against the config: every weight the graph reads is present,
 * floating point and of the config's shape. Returns the config (LM head resolved) and the names to read.
 */
export const checkEntries = (
  config: T5Config,
  tensors: ReadonlyMap<string, TensorInfo>,
  file: string,
): Result.Result<{ config: T5Config; names: string[] }, CheckpointError> => {
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
  const names = weightNames(cfg)
  for (const name of names) {
    const t = tensors.get(name)
    if (t === undefined) return Result.fail(new CheckpointError({ file, field: name, message: `missing tensor ${name}` }))
    if (!FLOAT.has(t.dtype)) {
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
  }
  return Result.succeed({ config: cfg, names })
}

/** A weight with a NaN or infinite value is refused, naming the tensor and the first bad index. */
export const checkFinite = (t: HostTensor, name: string, file: string): Result.Result<void, CheckpointError> => {
  const d = t.data as Float32Array
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i]))
      return Result.fail(new CheckpointError({ file, field: name, message: `non-finite value (${d[i]}) at flat index ${i}` }))
  }
  return Result.void
}

/** Checks a weight map against the config (and every weight for finiteness); `file` names the source in errors. */
export const validateWeights = (
  config: T5Config,
  tensors: ReadonlyMap<string, HostTensor>,
  file: string,
): Result.Result<{ config: T5Config; weights: Map<string, HostTensor<"f32">> }, CheckpointError> =>
  Result.flatMap(checkEntries(config, tensors, file), ({ config: cfg, names }) => {
    for (const n of names) {
      const f = checkFinite(tensors.get(n) as HostTensor, n, file)
      if (Result.isFailure(f)) return Result.fail(f.failure)
    }
    return Result.succeed({ config: cfg, weights: new Map(names.map((n) => [n, tensors.get(n) as HostTensor<"f32">])) })
  })

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

/** The safetensors files of a checkpoint folder: `model.safetensors`, or the shards of its index. */
const checkpointFiles = (dir: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const exists = (f: string) => fs.exists(f).pipe(Effect.orElseSucceed(() => false))
    const single = path.join(dir, "model.safetensors")
    const index = path.join(dir, "model.safetensors.index.json")
    if (yield* exists(single)) return { source: single, files: [single] }
    if (yield* exists(index)) {
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
      }
      return { source: index, files: shards.map((s) => path.join(dir, s)) }
    }
    const pickle = path.join(dir, "pytorch_model.bin")
    if (yield* exists(pickle)) {
      return yield* new CheckpointError({
        file: pickle,
        field: "format",
        message:
          "PyTorch pickle checkpoints are not read (they can run code). Convert once with Python: " +
          "`from transformers import T5ForConditionalGeneration as M; M.from_pretrained(DIR).save_pretrained(DIR, safe_serialization=True)`",
      })
    }
    return yield* new CheckpointError({
      file: single,
      field: "file",
      message: `no model.safetensors or model.safetensors.index.json in ${dir}`,
    })
  })

/**
 * Loads a checkpoint folder by ranges: every file's header is read and the weights are checked
 * against the config before any tensor data is read; then only the tensors the graph uses are read,
 * one at a time (F16/BF16 widened to f32 in chunks, so the peak is the f32 weights plus one chunk).
 */
export const loadCheckpoint = (dir: string) =>
  Effect.scoped(
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
      const { source, files } = yield* checkpointFiles(dir)
      const owner = new Map<string, SafetensorsReader>()
      for (const file of files) {
        const reader = yield* openSafetensors(file)
        for (const name of reader.entries.keys()) owner.set(name, reader)
      }
      const infos = new Map([...owner].map(([name, r]) => [name, r.entries.get(name) as TensorInfo]))
      const checked = yield* Effect.fromResult(checkEntries(config, infos, source))
      const weights = new Map<string, HostTensor<"f32">>()
      for (const name of checked.names) {
        const t = (yield* (owner.get(name) as SafetensorsReader).read(name)) as HostTensor<"f32">
        yield* Effect.fromResult(checkFinite(t, name, source))
        weights.set(name, t)
      }
      return { config: checked.config, weights, source: dir } satisfies T5Model
    }),
  )

/** Identifies a model: hash of its config and a checksum of its token embeddings. */
export const fingerprint = (m: T5Model): string => {
  const cfg = new TextEncoder().encode(JSON.stringify(m.config))
  const emb = m.weights.get("shared.weight") as HostTensor<"f32">
  return `${fnv1a(cfg)}-${fnv1a(new Uint8Array(emb.data.buffer, emb.data.byteOffset, emb.data.byteLength))}`
}

/** Which model a prompt was trained for: its fingerprint and embedding width. */
export interface ModelKey {
  /** Config hash + embedding checksum (see `fingerprint`), or `ANY_MODEL`. */
  readonly fingerprint: string
  readonly dModel: number
}

/** The fingerprint of a prompt usable with any model of its width (imported prompts of unknown origin). */
export const ANY_MODEL = "any"

/** The key of a loaded model. */
export const modelKey = (m: T5Model): ModelKey => ({ fingerprint: fingerprint(m), dModel: m.config.dModel })

/** Whether a prompt made for `fingerprint` may be used with the model of `target` (same model, or `ANY_MODEL`). */
export const fingerprintMatches = (fingerprint: string, target: string): boolean =>
  fingerprint === target || fingerprint === ANY_MODEL

const writeFailed = (file: string) => (e: { message: string }) => new CheckpointError({ file, field: "file", message: e.message })

/** Writes a Hugging Face style checkpoint folder (config.json + model.safetensors), each file atomically. */
export const saveCheckpoint = (dir: string, model: T5Model, metadata: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError(writeFailed(dir)))
    const weights = new Map(model.weights)
    const file = path.join(dir, "model.safetensors")
    yield* writeFileAtomic(file, encodeSafetensors(weights, { format: "pt", ...metadata })).pipe(
      Effect.mapError(writeFailed(file)),
    )
    const cfg = path.join(dir, "config.json")
    yield* writeFileAtomic(cfg, new TextEncoder().encode(`${JSON.stringify(encodeConfig(model.config), null, 2)}\n`)).pipe(
      Effect.mapError(writeFailed(cfg)),
    )
  })
