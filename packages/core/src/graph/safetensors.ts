/**
 * Strict safetensors reader and writer (https://github.com/huggingface/safetensors format):
 * 8-byte little-endian header length, a JSON header, then one byte buffer indexed by every tensor.
 * The reader validates everything a hostile file could get wrong before it allocates anything
 * sized by the file: header length (capped), JSON, dtypes, shapes against byte ranges, offsets out
 * of range, overlaps and holes. F16 and BF16 are widened to f32. Files are read by ranges
 * (`openSafetensors`: the header first, then one tensor at a time by positioned reads).
 */
import { Effect, FileSystem, Result } from "effect"
import { SafetensorsError } from "./errors.ts"
import type { HostTensor } from "./tensor.ts"
import { size } from "./tensor.ts"

/** Largest header accepted: 100 MB, as in the reference implementation. */
export const MAX_HEADER_BYTES = 100_000_000

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, F64: 8, I8: 1, U8: 1, BOOL: 1 }
const SUPPORTED = new Set(["F32", "F16", "BF16", "I32", "I64"])

export interface SafetensorsFile {
  readonly tensors: ReadonlyMap<string, HostTensor>
  readonly metadata: Readonly<Record<string, string>>
}

export interface Entry {
  readonly name: string
  readonly dtype: string
  readonly shape: number[]
  readonly start: number
  readonly end: number
}

const isNonNegInt = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0

/** Parses and validates the header; returns the entries and where the byte buffer starts. */
export const parseHeader = (
  bytes: Uint8Array,
  file: string,
): Result.Result<{ entries: Entry[]; metadata: Record<string, string>; dataStart: number }, SafetensorsError> => {
  const fail = (field: string, message: string) => Result.fail(new SafetensorsError({ file, field, message }))
  if (bytes.length < 8) return fail("header_length", `file has ${bytes.length} bytes, fewer than the 8-byte header length`)
  const n = headerLength(bytes, bytes.length, file)
  if (Result.isFailure(n)) return Result.fail(n.failure)
  return parseHeaderJson(bytes.subarray(8, 8 + n.success), bytes.length - 8 - n.success, file)
}

/** The header length in the first 8 bytes of a file of `fileSize` bytes, checked against the cap and the size. */
export const headerLength = (first8: Uint8Array, fileSize: number, file: string): Result.Result<number, SafetensorsError> => {
  const n64 = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true)
  if (n64 > BigInt(MAX_HEADER_BYTES)) {
    return Result.fail(
      new SafetensorsError({
        file,
        field: "header_length",
        message: `header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte cap`,
      }),
    )
  }
  const n = Number(n64)
  if (8 + n > fileSize) {
    return Result.fail(
      new SafetensorsError({
        file,
        field: "header_length",
        message: `header length ${n} runs past the end of the file (${fileSize} bytes)`,
      }),
    )
  }
  return Result.succeed(n)
}

/**
 * Parses and validates the JSON header (`json`: its bytes) of a file whose data buffer has `dataLen`
 * bytes; `dataStart` is where that buffer begins in the file.
 */
export const parseHeaderJson = (
  jsonBytes: Uint8Array,
  dataLen: number,
  file: string,
): Result.Result<{ entries: Entry[]; metadata: Record<string, string>; dataStart: number }, SafetensorsError> => {
  const fail = (field: string, message: string) => Result.fail(new SafetensorsError({ file, field, message }))
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(jsonBytes))
  } catch (e) {
    return fail("header", `header is not valid UTF-8 JSON: ${(e as Error).message}`)
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return fail("header", "header is not a JSON object")
  const entries: Entry[] = []
  let metadata: Record<string, string> = {}
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof raw !== "object" || raw === null || Array.isArray(raw))
        return fail("__metadata__", "must be an object of strings")
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== "string") return fail(`__metadata__.${k}`, "metadata values must be strings")
      }
      metadata = raw as Record<string, string>
      continue
    }
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return fail(name, "tensor entry is not an object")
    const { dtype, shape, data_offsets } = raw as Record<string, unknown>
    if (typeof dtype !== "string" || !(dtype in BYTES)) return fail(`${name}.dtype`, `unknown dtype ${JSON.stringify(dtype)}`)
    if (!SUPPORTED.has(dtype)) return fail(`${name}.dtype`, `dtype ${dtype} is not supported (F32, F16, BF16, I32, I64 are)`)
    if (!Array.isArray(shape) || !shape.every(isNonNegInt))
      return fail(`${name}.shape`, "shape must be an array of non-negative integers")
    if (!Array.isArray(data_offsets) || data_offsets.length !== 2 || !data_offsets.every(isNonNegInt)) {
      return fail(`${name}.data_offsets`, "data_offsets must be two non-negative integers")
    }
    const [start, end] = data_offsets as [number, number]
    if (start > end) return fail(`${name}.data_offsets`, `start ${start} is after end ${end}`)
    if (end > dataLen) return fail(`${name}.data_offsets`, `end ${end} is past the data buffer (${dataLen} bytes)`)
    const numel = (shape as number[]).reduce((a, b) => a * b, 1)
    if (!Number.isSafeInteger(numel) || numel * BYTES[dtype] !== end - start) {
      return fail(
        `${name}.shape`,
        `shape [${shape.join(", ")}] of ${dtype} needs ${numel * BYTES[dtype]} bytes, data_offsets give ${end - start}`,
      )
    }
    entries.push({ name, dtype, shape: shape as number[], start, end })
  }
  const sorted = [...entries].sort((a, b) => a.start - b.start || a.end - b.end)
  let cursor = 0
  for (const e of sorted) {
    if (e.start < cursor) return fail(`${e.name}.data_offsets`, `byte range [${e.start}, ${e.end}) overlaps another tensor`)
    if (e.start > cursor) return fail(`${e.name}.data_offsets`, `hole in the data buffer before byte ${e.start}`)
    cursor = e.end
  }
  if (cursor !== dataLen) return fail("data", `data buffer has ${dataLen - cursor} trailing bytes that no tensor indexes`)
  return Result.succeed({ entries, metadata, dataStart: 8 + jsonBytes.length })
}

const f16ToF32 = (h: number): number => {
  const s = h & 0x8000 ? -1 : 1
  const e = (h >> 10) & 0x1f
  const m = h & 0x3ff
  if (e === 0) return s * 2 ** -14 * (m / 1024)
  if (e === 31) return m ? Number.NaN : s * Number.POSITIVE_INFINITY
  return s * 2 ** (e - 15) * (1 + m / 1024)
}

const decode = (bytes: Uint8Array, e: Entry): HostTensor => {
  // f32/i32/i64 data that is aligned in its buffer is viewed in place (no copy: a 600 MB index opens
  // without duplicating it); otherwise, and for the widened types, an aligned copy is made
  const item = e.dtype === "I64" ? 8 : 4
  const at = bytes.byteOffset + e.start
  const aligned = (e.dtype === "F32" || e.dtype === "I32" || e.dtype === "I64") && at % item === 0
  const n = (e.end - e.start) / item
  if (aligned) {
    const data =
      e.dtype === "F32"
        ? new Float32Array(bytes.buffer, at, n)
        : e.dtype === "I32"
          ? new Int32Array(bytes.buffer, at, n)
          : new BigInt64Array(bytes.buffer, at, n)
    return { dtype: e.dtype === "F32" ? "f32" : e.dtype === "I32" ? "i32" : "i64", shape: e.shape, data } as HostTensor
  }
  // an aligned copy (Node's Buffer#slice would return a view, hence the explicit copy)
  const chunk = new Uint8Array(e.end - e.start)
  chunk.set(bytes.subarray(e.start, e.end))
  switch (e.dtype) {
    case "F32":
      return { dtype: "f32", shape: e.shape, data: new Float32Array(chunk.buffer) }
    case "I32":
      return { dtype: "i32", shape: e.shape, data: new Int32Array(chunk.buffer) }
    case "I64":
      return { dtype: "i64", shape: e.shape, data: new BigInt64Array(chunk.buffer) }
    case "F16": {
      const src = new Uint16Array(chunk.buffer)
      const out = new Float32Array(src.length)
      for (let i = 0; i < src.length; i++) out[i] = f16ToF32(src[i])
      return { dtype: "f32", shape: e.shape, data: out }
    }
    default: {
      // BF16: the high half of an f32
      const src = new Uint16Array(chunk.buffer)
      const wide = new Uint32Array(src.length)
      for (let i = 0; i < src.length; i++) wide[i] = src[i] << 16
      return { dtype: "f32", shape: e.shape, data: new Float32Array(wide.buffer) }
    }
  }
}

/** Decodes a whole safetensors buffer. `file` names the source in errors. */
export const decodeSafetensors = (bytes: Uint8Array, file = "<buffer>"): Result.Result<SafetensorsFile, SafetensorsError> =>
  Result.map(parseHeader(bytes, file), ({ entries, metadata, dataStart }) => {
    const body = bytes.subarray(dataStart)
    const tensors = new Map<string, HostTensor>()
    for (const e of entries) tensors.set(e.name, decode(body, e))
    return { tensors, metadata }
  })

const DTYPE_TAG = { f32: "F32", i32: "I32", i64: "I64" } as const

/** Encodes tensors (sorted by name) and string metadata as a safetensors buffer. */
export const encodeSafetensors = (
  tensors: ReadonlyMap<string, HostTensor> | Readonly<Record<string, HostTensor>>,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array => {
  const map = tensors instanceof Map ? tensors : new Map(Object.entries(tensors))
  const names = [...map.keys()].sort()
  const header: Record<string, unknown> = {}
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata
  let offset = 0
  for (const name of names) {
    const t = map.get(name) as HostTensor
    const n = t.data.byteLength
    header[name] = { dtype: DTYPE_TAG[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + n] }
    offset += n
  }
  let json = new TextEncoder().encode(JSON.stringify(header))
  const pad = (8 - (json.length % 8)) % 8
  if (pad > 0) json = new TextEncoder().encode(JSON.stringify(header) + " ".repeat(pad))
  const out = new Uint8Array(8 + json.length + offset)
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
  out.set(json, 8)
  let at = 8 + json.length
  for (const name of names) {
    const t = map.get(name) as HostTensor
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at)
    at += t.data.byteLength
  }
  return out
}

/** A safetensors file opened for range reads: its parsed header and a reader of one tensor at a time. */
export interface SafetensorsReader {
  readonly file: string
  /** Bytes in the file. */
  readonly size: number
  readonly entries: ReadonlyMap<string, Entry>
  readonly metadata: Readonly<Record<string, string>>
  /** Where the data buffer starts in the file. */
  readonly dataStart: number
  /** Reads one tensor by positioned reads (F16/BF16 widened to f32 in chunks). */
  readonly read: (name: string) => Effect.Effect<HostTensor, SafetensorsError>
}

/** Largest single positioned read (Node caps one read at 2 GiB). */
const READ_CHUNK = 1 << 30
/** Chunk of a half-precision tensor read before widening (the f32 output plus this is the peak). */
const HALF_CHUNK = 1 << 24

const ioError = (file: string, field: string) => (e: { readonly message: string }) =>
  new SafetensorsError({ file, field, message: e.message })

/** Fills `into` from `position` on, in chunks; a short file is an error naming the range. */
const readFully = (handle: FileSystem.File, file: string, field: string, into: Uint8Array, position: number) =>
  Effect.gen(function* () {
    let done = 0
    while (done < into.length) {
      const chunk = into.subarray(done, Math.min(into.length, done + READ_CHUNK))
      const n = yield* handle.read(chunk, { position: BigInt(position + done) }).pipe(Effect.mapError(ioError(file, field)))
      if (n === 0) {
        return yield* new SafetensorsError({
          file,
          field,
          message: `file ended at byte ${position + done}, expected ${into.length} bytes from ${position}`,
        })
      }
      done += n
    }
  })

const widenHalf = (src: Uint16Array, out: Float32Array, at: number, bf16: boolean) => {
  if (bf16) {
    // BF16 is the high half of an f32
    const wide = new Uint32Array(out.buffer, out.byteOffset + at * 4, src.length)
    for (let i = 0; i < src.length; i++) wide[i] = src[i] << 16
  } else for (let i = 0; i < src.length; i++) out[at + i] = f16ToF32(src[i])
}

const readEntry = (handle: FileSystem.File, file: string, dataStart: number, e: Entry) =>
  Effect.gen(function* () {
    const at = dataStart + e.start
    const bytes = e.end - e.start
    if (e.dtype === "F16" || e.dtype === "BF16") {
      const out = new Float32Array(bytes / 2)
      const chunk = new Uint8Array(Math.min(bytes, HALF_CHUNK))
      for (let done = 0; done < bytes; done += chunk.length) {
        const part = chunk.subarray(0, Math.min(chunk.length, bytes - done))
        yield* readFully(handle, file, e.name, part, at + done)
        widenHalf(new Uint16Array(part.buffer, 0, part.length / 2), out, done / 2, e.dtype === "BF16")
      }
      return { dtype: "f32", shape: e.shape, data: out } as HostTensor
    }
    // f32/i32/i64 are read straight into their typed array (no intermediate copy)
    const data =
      e.dtype === "F32"
        ? new Float32Array(bytes / 4)
        : e.dtype === "I32"
          ? new Int32Array(bytes / 4)
          : new BigInt64Array(bytes / 8)
    yield* readFully(handle, file, e.name, new Uint8Array(data.buffer), at)
    return { dtype: e.dtype === "F32" ? "f32" : e.dtype === "I32" ? "i32" : "i64", shape: e.shape, data } as HostTensor
  })

/**
 * Opens a safetensors file for range reads: the header is read and validated first (8 bytes, then
 * the JSON), each tensor is read on request by positioned reads, so files of any size (over 2 GiB)
 * open without reading them whole. The handle closes with the scope.
 */
export const openSafetensors = (file: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const handle = yield* fs.open(file, { flag: "r" }).pipe(Effect.mapError(ioError(file, "file")))
    const stat = yield* handle.stat.pipe(Effect.mapError(ioError(file, "file")))
    const size = Number(stat.size)
    if (size < 8) {
      return yield* new SafetensorsError({
        file,
        field: "header_length",
        message: `file has ${size} bytes, fewer than the 8-byte header length`,
      })
    }
    const first = new Uint8Array(8)
    yield* readFully(handle, file, "header_length", first, 0)
    const n = yield* Effect.fromResult(headerLength(first, size, file))
    const json = new Uint8Array(n)
    yield* readFully(handle, file, "header", json, 8)
    const parsed = yield* Effect.fromResult(parseHeaderJson(json, size - 8 - n, file))
    const entries = new Map(parsed.entries.map((e) => [e.name, e]))
    const read = (name: string) => {
      const e = entries.get(name)
      return e === undefined
        ? Effect.fail(new SafetensorsError({ file, field: name, message: `no tensor ${name}` }))
        : readEntry(handle, file, parsed.dataStart, e)
    }
    return { file, size, entries, metadata: parsed.metadata, dataStart: parsed.dataStart, read } satisfies SafetensorsReader
  })

/** Reads and decodes a safetensors file, tensor by tensor (never the whole file in one buffer). */
export const readSafetensors = (path: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const reader = yield* openSafetensors(path)
      const tensors = new Map<string, HostTensor>()
      for (const name of reader.entries.keys()) tensors.set(name, yield* reader.read(name))
      return { tensors, metadata: reader.metadata } satisfies SafetensorsFile
    }),
  )

/** Writes a safetensors file atomically: a temp file beside the target, then a rename. */
export const writeSafetensors = (
  path: string,
  tensors: ReadonlyMap<string, HostTensor> | Readonly<Record<string, HostTensor>>,
  metadata: Readonly<Record<string, string>> = {},
) => writeFileAtomic(path, encodeSafetensors(tensors, metadata))

/** Writes bytes to `path` through a temp file in the same directory and a rename. */
export const writeFileAtomic = (path: string, bytes: Uint8Array) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const tmp = `${path}.tmp-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`
    yield* fs.writeFile(tmp, bytes).pipe(
      Effect.flatMap(() => fs.rename(tmp, path)),
      Effect.onError(() => Effect.ignore(fs.remove(tmp))),
    )
  })

/** Element count check helper used by loaders. */
export const numel = size
