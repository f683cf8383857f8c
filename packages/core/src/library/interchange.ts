/**
 * Interchange with PEFT prompt-tuning adapters (`adapter_config.json` + `adapter_model.safetensors`
 * holding `prompt_embeddings`) and with the official SPoT prompt files (NumPy `.npy`, float32, shape
 * (L, d_model)).
 */
import { Effect, FileSystem, Path, Result } from "effect"
import { InputError } from "../errors.ts"
import { decodeSafetensors, encodeSafetensors, writeFileAtomic } from "../graph/safetensors.ts"
import type { HostTensor } from "../graph/tensor.ts"
import { sliceRows } from "../graph/tensor.ts"
import { parseNpyHeader } from "./npy.ts"

const bad = (file: string, field: string, message: string) => new InputError({ field: `${file}: ${field}`, message })

// ---- .npy ----

/** Decodes a `.npy` file holding a C-order float32 (or float64, narrowed) matrix. */
export const decodeNpy = (bytes: Uint8Array, file = "<npy>"): Result.Result<HostTensor<"f32">, InputError> => {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]
  if (bytes.length < 10 || !magic.every((b, i) => bytes[i] === b)) return Result.fail(bad(file, "magic", "not a .npy file"))
  const major = bytes[6]
  if (major < 1 || major > 3) return Result.fail(bad(file, "version", `unsupported .npy version ${major}`))
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const hlen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true)
  const start = major === 1 ? 10 : 12
  if (start + hlen > bytes.length) return Result.fail(bad(file, "header", "header runs past the end of the file"))
  let header: string
  try {
    header = new TextDecoder("latin1", { fatal: false }).decode(bytes.subarray(start, start + hlen))
  } catch {
    return Result.fail(bad(file, "header", "not text"))
  }
  const parsed = parseNpyHeader(header)
  if (Result.isFailure(parsed)) return Result.fail(bad(file, parsed.failure.field, parsed.failure.message))
  const { descr, fortranOrder, shape } = parsed.success
  if (descr !== "<f4" && descr !== "<f8")
    return Result.fail(bad(file, "descr", `dtype ${descr} is not little-endian float32 (<f4) or float64 (<f8)`))
  if (fortranOrder) return Result.fail(bad(file, "fortran_order", "Fortran-order arrays are not supported"))
  if (shape.length !== 2 || shape[0] === 0 || shape[1] === 0) {
    return Result.fail(bad(file, "shape", `expected a non-empty matrix (L, d_model), got (${shape.join(", ")})`))
  }
  const item = descr === "<f4" ? 4 : 8
  const n = shape[0] * shape[1]
  const body = start + hlen
  if (!Number.isSafeInteger(n * item)) return Result.fail(bad(file, "shape", `(${shape.join(", ")}) is too large`))
  if (bytes.length - body !== n * item)
    return Result.fail(bad(file, "data", `shape (${shape.join(", ")}) needs ${n * item} bytes, file has ${bytes.length - body}`))
  const copy = new Uint8Array(n * item)
  copy.set(bytes.subarray(body, body + n * item))
  const data = item === 4 ? new Float32Array(copy.buffer) : Float32Array.from(new Float64Array(copy.buffer))
  for (let i = 0; i < data.length; i++)
    if (!Number.isFinite(data[i])) return Result.fail(bad(file, "data", `non-finite value (${data[i]}) at flat index ${i}`))
  return Result.succeed({ dtype: "f32", shape: [...shape], data })
}

/** Encodes a float32 matrix as `.npy` version 1.0. */
export const encodeNpy = (t: HostTensor<"f32">): Uint8Array => {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${t.shape.join(", ")}${t.shape.length === 1 ? "," : ""}), }`
  const total = 10 + header.length + 1
  header += " ".repeat((64 - (total % 64)) % 64)
  header += "\n"
  const h = new TextEncoder().encode(header)
  const out = new Uint8Array(10 + h.length + t.data.byteLength)
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0])
  new DataView(out.buffer).setUint16(8, h.length, true)
  out.set(h, 10)
  out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), 10 + h.length)
  return out
}

// ---- PEFT ----

export interface PeftPrompt {
  /** The encoder prompt [L, d]. */
  readonly prompt: HostTensor<"f32">
  /** PEFT's decoder rows [L, d] when `num_transformer_submodules` is 2 (kept so export writes them back). */
  readonly decoderRows?: HostTensor<"f32">
  readonly config: Readonly<Record<string, unknown>>
}

/** Parses and checks `adapter_config.json` of a prompt-tuning adapter. */
export const parsePeftConfig = (
  text: string,
  cfgFile: string,
): Result.Result<{ cfg: Record<string, unknown>; L: number; d: number; subs: 1 | 2 }, InputError> => {
  let cfg: unknown
  try {
    cfg = JSON.parse(text)
  } catch {
    return Result.fail(bad(cfgFile, "json", "not valid JSON"))
  }
  if (typeof cfg !== "object" || cfg === null || Array.isArray(cfg))
    return Result.fail(bad(cfgFile, "json", "is not a JSON object"))
  const c = cfg as Record<string, unknown>
  if (c.peft_type !== "PROMPT_TUNING")
    return Result.fail(bad(cfgFile, "peft_type", `expected PROMPT_TUNING, got ${JSON.stringify(c.peft_type)}`))
  const L = c.num_virtual_tokens
  const d = c.token_dim
  const subs = c.num_transformer_submodules ?? 1
  if (typeof L !== "number" || !Number.isSafeInteger(L) || L <= 0 || L > 1 << 20)
    return Result.fail(bad(cfgFile, "num_virtual_tokens", `must be a positive integer, got ${JSON.stringify(L)}`))
  if (typeof d !== "number" || !Number.isSafeInteger(d) || d <= 0 || d > 1 << 20)
    return Result.fail(bad(cfgFile, "token_dim", `must be a positive integer, got ${JSON.stringify(d)}`))
  if (subs !== 1 && subs !== 2) return Result.fail(bad(cfgFile, "num_transformer_submodules", "must be 1 or 2"))
  return Result.succeed({ cfg: c, L, d, subs })
}

/** Reads a PEFT prompt-tuning adapter folder. */
export const readPeftAdapter = (dir: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const cfgFile = path.join(dir, "adapter_config.json")
    const stFile = path.join(dir, "adapter_model.safetensors")
    const text = yield* fs.readFileString(cfgFile).pipe(Effect.mapError((e) => bad(cfgFile, "file", e.message)))
    const { cfg, L, d, subs } = yield* Effect.fromResult(parsePeftConfig(text, cfgFile))
    const bytes = yield* fs.readFile(stFile).pipe(Effect.mapError((e) => bad(stFile, "file", e.message)))
    const st = yield* Effect.fromResult(decodeSafetensors(bytes, stFile))
    const emb = st.tensors.get("prompt_embeddings")
    if (!emb) return yield* bad(stFile, "prompt_embeddings", "missing tensor")
    if (emb.dtype !== "f32" || emb.shape.length !== 2 || emb.shape[0] !== L * subs || emb.shape[1] !== d) {
      return yield* bad(stFile, "prompt_embeddings", `shape [${emb.shape}] does not match the config ([${L * subs}, ${d}])`)
    }
    const all = emb as HostTensor<"f32">
    for (let i = 0; i < all.data.length; i++)
      if (!Number.isFinite(all.data[i]))
        return yield* bad(stFile, "prompt_embeddings", `non-finite value (${all.data[i]}) at flat index ${i}`)
    return {
      prompt: sliceRows(all, 0, L),
      ...(subs === 2 ? { decoderRows: sliceRows(all, L, 2 * L) } : {}),
      config: cfg,
    } satisfies PeftPrompt
  })

export interface PeftExportOptions {
  readonly numLayers?: number
  readonly numHeads?: number
  readonly baseModel?: string | null
}

/** Writes a PEFT adapter folder (both files atomically) that `PeftModel.from_pretrained` loads. */
export const writePeftAdapter = (
  dir: string,
  p: { prompt: HostTensor<"f32">; decoderRows?: HostTensor<"f32"> },
  o: PeftExportOptions = {},
) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const [L, d] = p.prompt.shape
    const subs = p.decoderRows ? 2 : 1
    const data = new Float32Array(L * d * subs)
    data.set(p.prompt.data)
    if (p.decoderRows) data.set(p.decoderRows.data, L * d)
    const config = {
      auto_mapping: null,
      base_model_name_or_path: o.baseModel ?? null,
      inference_mode: true,
      modules_to_save: null,
      num_attention_heads: o.numHeads ?? null,
      num_layers: o.numLayers ?? null,
      num_transformer_submodules: subs,
      num_virtual_tokens: L,
      peft_type: "PROMPT_TUNING",
      peft_version: "0.21.0",
      prompt_tuning_init: "RANDOM",
      prompt_tuning_init_text: null,
      revision: null,
      task_type: "SEQ_2_SEQ_LM",
      token_dim: d,
      tokenizer_kwargs: null,
      tokenizer_name_or_path: null,
    }
    yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError((e) => bad(dir, "dir", e.message)))
    const st = path.join(dir, "adapter_model.safetensors")
    yield* writeFileAtomic(
      st,
      encodeSafetensors({ prompt_embeddings: { dtype: "f32", shape: [L * subs, d], data } }, { format: "pt" }),
    ).pipe(Effect.mapError((e) => bad(st, "file", e.message)))
    const cf = path.join(dir, "adapter_config.json")
    yield* writeFileAtomic(cf, new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`)).pipe(
      Effect.mapError((e) => bad(cf, "file", e.message)),
    )
  })
