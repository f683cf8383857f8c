/**
 * `spot bench load`: writes a checkpoint of a preset's shapes (≥ 3 GB for t5-v1_1-large in f32) one
 * tensor at a time, then loads it through `loadCheckpoint` (range reads) and reports the time and the
 * peak RSS against the f32 size. `spot bench data`: writes a large JSONL, opens it as `spot train`
 * does (indexed by record offsets with `--stream on`, loaded with `off`) and builds the batches of
 * `--steps` training steps from it, reporting the times and the peak RSS.
 */
import { Batching, IndexedData, T5Checkpoint, T5Config, T5Graph, T5Presets, Tokenizers } from "@spot/core"
import { Effect, FileSystem, Path } from "effect"
import { Command, Flag } from "effect/cli"
import { loadPlainTrain } from "../common.ts"
import { UsageError } from "../errors.ts"
import { printJson, printRecord } from "../output.ts"
import { checkInts } from "../validate.ts"

const MB = 1024 * 1024
const peakRssMb = () => process.resourceUsage().maxRSS / 1024
const rssMb = () => process.memoryUsage().rss / MB

/** Cheap deterministic fill (xorshift, values in [-0.05, 0.05)): the benchmark measures reading, not values. */
const fill = (n: number, seed: number): Float32Array => {
  const out = new Float32Array(n)
  let x = (seed * 2654435761) >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = ((x >>> 0) / 4294967296 - 0.5) * 0.1
  }
  return out
}

const toBf16 = (x: Float32Array): Uint8Array => {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length)
  const out = new Uint16Array(u.length)
  for (let i = 0; i < u.length; i++) out[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16
  return new Uint8Array(out.buffer)
}

/** Writes config.json and model.safetensors tensor by tensor (never the whole model in memory). */
const writeStreamed = (dir: string, preset: string, dtype: "f32" | "bf16") =>
  Effect.scoped(
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const config = T5Presets.PRESETS[preset]
      const names = T5Graph.weightNames(config)
      const item = dtype === "f32" ? 4 : 2
      const header: Record<string, unknown> = {}
      let offset = 0
      for (const name of names) {
        const shape = T5Graph.weightShape(config, name)
        const bytes = shape.reduce((a, b) => a * b, 1) * item
        header[name] = { dtype: dtype === "f32" ? "F32" : "BF16", shape, data_offsets: [offset, offset + bytes] }
        offset += bytes
      }
      let json = JSON.stringify(header)
      json += " ".repeat((8 - (json.length % 8)) % 8)
      yield* fs.makeDirectory(dir, { recursive: true })
      const file = path.join(dir, "model.safetensors")
      const tmp = `${file}.tmp`
      const h = yield* fs.open(tmp, { flag: "w" })
      const len = new Uint8Array(8)
      new DataView(len.buffer).setBigUint64(0, BigInt(json.length), true)
      yield* h.writeAll(len)
      yield* h.writeAll(new TextEncoder().encode(json))
      for (let i = 0; i < names.length; i++) {
        const shape = T5Graph.weightShape(config, names[i])
        const w = fill(
          shape.reduce((a, b) => a * b, 1),
          i + 1,
        )
        yield* h.writeAll(dtype === "f32" ? new Uint8Array(w.buffer) : toBf16(w))
      }
      yield* fs.rename(tmp, file)
      yield* fs.writeFileString(path.join(dir, "config.json"), JSON.stringify(T5Config.encodeConfig(config), null, 2))
      return 8 + json.length + offset
    }),
  )

const load = Command.make(
  "load",
  {
    preset: Flag.String("preset").pipe(Flag.withDefault("t5-v1_1-large")),
    dtype: Flag.Literals("dtype", ["f32", "bf16"] as const).pipe(Flag.withDefault("f32" as const)),
    dir: Flag.String("dir").pipe(Flag.withDescription("where the checkpoint is written (reused when present)")),
    json: Flag.Boolean("json").pipe(Flag.withDefault(false)),
  },
  (f) =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      if (!T5Presets.PRESETS[f.preset])
        return yield* new UsageError({
          field: "--preset",
          message: `unknown preset ${f.preset}; known: ${Object.keys(T5Presets.PRESETS).join(", ")}`,
        })
      const file = path.join(f.dir, "model.safetensors")
      const t0 = performance.now()
      const exists = yield* fs.exists(file)
      const fileBytes = exists ? Number((yield* fs.stat(file)).size) : yield* writeStreamed(f.dir, f.preset, f.dtype)
      const writeS = (performance.now() - t0) / 1000
      // the machine's rate of allocating and touching fresh memory (a floor for any loader), on 256 MB
      const tt = performance.now()
      for (let i = 0; i < 2; i++) new Float32Array(32 * MB).fill(1)
      const touchMbPerS = 256 / ((performance.now() - tt) / 1000)
      const before = rssMb()
      const t1 = performance.now()
      const model = yield* T5Checkpoint.loadCheckpoint(f.dir)
      const loadS = (performance.now() - t1) / 1000
      let f32Bytes = 0
      for (const w of model.weights.values()) f32Bytes += w.data.byteLength
      const peak = peakRssMb()
      const r = {
        preset: f.preset,
        dtype: f.dtype,
        file_gb: fileBytes / 1e9,
        f32_gb: f32Bytes / 1e9,
        write_s: exists ? 0 : writeS,
        load_s: loadS,
        load_gb_per_s: fileBytes / 1e9 / loadS,
        alloc_touch_gb_per_s: (touchMbPerS * MB) / 1e9,
        rss_before_load_mb: before,
        peak_rss_mb: peak,
        peak_over_f32: (peak * MB) / f32Bytes,
        rss_after_load_mb: rssMb(),
      }
      yield* f.json ? printJson(r) : printRecord(`loaded ${f.preset} (${f.dtype}) by ranges`, r)
    }),
).pipe(Command.withDescription("Write a large checkpoint a tensor at a time, load it by ranges, report time and peak RSS."))

/** Writes `lines` JSONL records of about `lineBytes` bytes (three classes), 1000 lines a write. */
const writeJsonl = (file: string, mb: number, lineBytes: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const h = yield* fs.open(`${file}.tmp`, { flag: "w" })
      const word = "lorem ipsum dolor sit amet "
      const pad = word.repeat(Math.ceil(lineBytes / word.length)).slice(0, Math.max(0, lineBytes - 40))
      const lines = Math.ceil((mb * MB) / lineBytes)
      const enc = new TextEncoder()
      for (let i = 0; i < lines; i += 1000) {
        let chunk = ""
        for (let j = i; j < Math.min(lines, i + 1000); j++)
          chunk += `${JSON.stringify({ input: `${j} ${pad}`, target: String(j % 3) })}\n`
        yield* h.writeAll(enc.encode(chunk))
      }
      yield* fs.rename(`${file}.tmp`, file)
    }),
  )

const data = Command.make(
  "data",
  {
    file: Flag.String("file").pipe(Flag.withDescription("the JSONL to write (reused when present)")),
    mb: Flag.Int("mb").pipe(Flag.withDefault(1024)),
    lineBytes: Flag.Int("line-bytes").pipe(Flag.withDefault(4096)),
    maxSource: Flag.Int("max-source").pipe(Flag.withDefault(64)),
    stream: Flag.Literals("stream", ["on", "off"] as const).pipe(
      Flag.withDefault("on" as const),
      Flag.withDescription("on: index the file and read each batch's records (spot train's path for large JSONL); off: load it"),
    ),
    steps: Flag.Int("steps").pipe(Flag.withDefault(20), Flag.withDescription("training steps whose batches are built")),
    batch: Flag.Int("batch").pipe(Flag.withDefault(32)),
    tokenizer: Flag.String("tokenizer").pipe(Flag.withDefault("byte")),
    json: Flag.Boolean("json").pipe(Flag.withDefault(false)),
  },
  (f) =>
    Effect.gen(function* () {
      yield* checkInts([
        ["--mb", f.mb, 1, 1 << 20],
        ["--line-bytes", f.lineBytes, 64, 1 << 30],
        ["--max-source", f.maxSource, 1, 65_536],
        ["--steps", f.steps, 0, 1_000_000],
        ["--batch", f.batch, 1, 65_536],
      ])
      const fs = yield* FileSystem.FileSystem
      if (!(yield* fs.exists(f.file))) yield* writeJsonl(f.file, f.mb, f.lineBytes)
      const size = Number((yield* fs.stat(f.file)).size)
      const tok = yield* Tokenizers.loadTokenizer(f.tokenizer)
      const before = rssMb()
      const t0 = performance.now()
      const o = { maxSource: f.maxSource, maxTarget: 8 }
      const ds = yield* loadPlainTrain(f.file, o, f.stream)
      const loadS = (performance.now() - t0) / 1000
      const afterLoad = peakRssMb()
      // the batches of the first steps, as training builds them (tokenized, padded to buckets)
      const t1 = performance.now()
      const src = Batching.trainBatches([ds], tok, { ...o, batchSize: f.batch, seed: 0 })
      const firstBatchAt = (performance.now() - t1) / 1000
      let tokens = 0
      for (let step = 0; step < f.steps; step++) {
        const items = yield* src.at(step)
        const b = Batching.makeBatch(items, { rows: f.batch, padId: tok.padId, ...o })
        tokens += b.inputIds.data.length
      }
      const batchesS = (performance.now() - t1) / 1000
      const indexed = IndexedData.isIndexed(ds)
      let chars = 0
      if (!indexed) for (const e of ds.examples) chars += e.input.length + e.target.length
      const r = {
        file_mb: size / MB,
        stream: f.stream,
        examples: indexed ? ds.size : ds.examples.length,
        ...(indexed ? { offsets_mb: ds.offsets.byteLength / MB } : { kept_text_mb: chars / MB }),
        max_source: f.maxSource,
        load_s: loadS,
        mb_per_s: size / MB / loadS,
        steps: f.steps,
        batch: f.batch,
        setup_s: firstBatchAt,
        batches_s: batchesS,
        ms_per_batch: f.steps > 0 ? ((batchesS - firstBatchAt) * 1000) / f.steps : 0,
        batch_tokens: tokens,
        rss_before_mb: before,
        peak_rss_after_load_mb: afterLoad,
        peak_rss_mb: peakRssMb(),
        classes: ds.candidates?.length ?? 0,
      }
      yield* f.json
        ? printJson(r)
        : printRecord(`built ${f.steps} batches from a ${f.stream === "on" ? "indexed" : "loaded"} JSONL`, r)
    }),
).pipe(
  Command.withDescription(
    "Write a large JSONL, open it as spot train does (indexed, or loaded) and build the batches of --steps steps; report times and peak RSS.",
  ),
)

export const loadBenches = [load, data] as const
