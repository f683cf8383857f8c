import type { WebGpuBackendShape } from "@spot/backend-webgpu"
import { Backend, IR, Safetensors, Search, Similarity, T5Graph, type T5Model, T5Runner } from "@spot/core"
import { Console, Effect, FileSystem, Path } from "effect"
import { Command, Flag } from "effect/cli"
import { backendFlags, backendLayer, describeBackend, parseTile } from "../backends.ts"
import { loadModel } from "../model.ts"
import { printJson, printRecord } from "../output.ts"
import { checkInts } from "../validate.ts"
import { grid } from "./bench-grid.ts"
import { loadBenches } from "./bench-load.ts"

const json = Flag.Boolean("json").pipe(Flag.withDefault(false))
const tile = Flag.String("tile").pipe(
  Flag.withDefault(""),
  Flag.withDescription("webgpu only: the big matmul tiling as BMxBNxBK:TMxTN (default 128x128x8:8x8)"),
)
/** ONNX Runtime tuning for benchmarks: how weights are bound, optimisation level, spinning, arena, profile. */
const onnxFlags = {
  weights: Flag.Literals("weights", ["external", "inputs"] as const).pipe(
    Flag.withDefault("external" as const),
    Flag.withDescription("onnx only: weights as external-data initializers (pre-packed) or as per-run inputs"),
  ),
  ortOpt: Flag.Literals("ort-opt", ["all", "extended", "basic", "disabled"] as const).pipe(
    Flag.withDefault("all" as const),
    Flag.withDescription("onnx only: graph optimisation level"),
  ),
  spinning: Flag.Boolean("spinning").pipe(Flag.withDefault(false), Flag.withDescription("onnx only: idle threads spin")),
  arena: Flag.Literals("arena", ["on", "off"] as const).pipe(
    Flag.withDefault("on" as const),
    Flag.withDescription("onnx only: CPU memory arena"),
  ),
  memPattern: Flag.Boolean("mem-pattern").pipe(
    Flag.withDefault(false),
    Flag.withDescription("onnx only: memory-pattern planning (higher peak memory)"),
  ),
  ortProfile: Flag.String("ort-profile").pipe(
    Flag.withDefault(""),
    Flag.withDescription("onnx only: write ONNX Runtime's per-op profile with this file prefix"),
  ),
}
type OnnxFlags = {
  weights: "external" | "inputs"
  ortOpt: "all" | "extended" | "basic" | "disabled"
  spinning: boolean
  arena: "on" | "off"
  memPattern: boolean
  ortProfile: string
}
const onnxTuning = (f: OnnxFlags) => ({
  weights: f.weights,
  optimization: f.ortOpt,
  spinning: f.spinning,
  arena: f.arena === "on",
  memoryPattern: f.memPattern,
  ...(f.ortProfile ? { profilePrefix: f.ortProfile } : {}),
})

const peakRssMb = () => process.resourceUsage().maxRSS / 1024

/** Median of `iters` timed runs after `warmup` untimed ones, in ms. */
const timeIt = <E>(run: Effect.Effect<unknown, E>, warmup: number, iters: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < warmup; i++) yield* run
    const times: number[] = []
    for (let i = 0; i < iters; i++) {
      const t0 = performance.now()
      yield* run
      times.push(performance.now() - t0)
    }
    times.sort((a, b) => a - b)
    return times[Math.floor(times.length / 2)]
  })

const random = (n: number, seed: number) => {
  const a = new Float32Array(n)
  let s = seed
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    a[i] = s / 4294967296 - 0.5
  }
  return a
}

/**
 * GFLOP/s of n×n×n matmuls on the current backend: `reps` chained products of resident operands
 * (bound once, as weights are), reduced to one scalar, so that a device backend is timed on its
 * kernels rather than on host transfers. The left operand is scaled by a fed scalar, so that a
 * runtime that constant-folds bound weights (ONNX Runtime with initializers) still computes them.
 */
export const matmulGflops = (n: number, iters = 5, reps = 4) =>
  Effect.gen(function* () {
    const backend = yield* Backend
    const a = IR.input("a", [n, n])
    const b = IR.input("b", [n, n])
    let c = IR.matmul(IR.mul(a, IR.input("scale", [1])), b)
    for (let r = 1; r < reps; r++) c = IR.matmul(IR.mul(c, 1 / n), b)
    const weights = new Map([
      ["a", { dtype: "f32", shape: [n, n], data: random(n * n, 1) } as const],
      ["b", { dtype: "f32", shape: [n, n], data: random(n * n, 2) } as const],
    ])
    const session = yield* backend.compile({ outputs: { s: IR.sum(c) } }, weights)
    const ms = yield* timeIt(session.run({ scale: { dtype: "f32", shape: [1], data: new Float32Array([1]) } }), 2, iters)
    yield* session.dispose
    return { n, reps, ms, gflops: (reps * 2 * n ** 3) / (ms * 1e6) }
  })

const matmul = Command.make(
  "matmul",
  {
    n: Flag.Int("n").pipe(Flag.withDefault(1024)),
    reps: Flag.Int("reps").pipe(Flag.withDefault(4), Flag.withDescription("chained products per timed run")),
    tile,
    ...backendFlags,
    ...onnxFlags,
    json,
  },
  ({ n, reps, tile, json, weights, ortOpt, spinning, arena, memPattern, ortProfile, ...choice }) =>
    Effect.gen(function* () {
      yield* checkInts([
        ["--n", n, 1, 65_536],
        ["--reps", reps, 1, 1_000_000],
      ])
      const info = yield* describeBackend
      const r = { ...(yield* matmulGflops(n, 5, reps)), ...info }
      yield* json ? printJson(r) : printRecord(`matmul ${n}³ ×${reps} on ${info.backend}`, { ms: r.ms, gflops: r.gflops })
    }).pipe(
      Effect.provide(
        backendLayer(
          choice,
          { tiles: parseTile(tile) },
          onnxTuning({ weights, ortOpt, spinning, arena, memPattern, ortProfile }),
        ),
      ),
    ),
).pipe(Command.withDescription("Practical matmul peak (GFLOP/s) of a backend."))

/** One prompt-tuning step (loss + prompt gradient) at a given shape; its compiled sessions are freed after. */
export const stepBench = (model: T5Model, batch: number, src: number, promptLen: number, tgt: number, iters: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const c = model.config
      const runner = yield* T5Runner.makeRunner(model)
      const ids = new Int32Array(batch * src)
      for (let i = 0; i < ids.length; i++) ids[i] = 3 + ((i * 7919) % (c.vocabSize - 3))
      const labels = new Int32Array(batch * tgt)
      for (let i = 0; i < labels.length; i++) labels[i] = 3 + ((i * 104729) % (c.vocabSize - 3))
      const prompt = { dtype: "f32", shape: [promptLen, c.dModel], data: random(promptLen * c.dModel, 3) } as const
      const b = {
        inputIds: { dtype: "i32", shape: [batch, src], data: ids },
        attentionMask: { dtype: "f32", shape: [batch, src], data: new Float32Array(batch * src).fill(1) },
        labels: { dtype: "i32", shape: [batch, tgt], data: labels },
      } as const
      const t0 = performance.now()
      yield* runner.run({ prompt, batch: b, outputs: ["loss", "promptGrad"] })
      const firstMs = performance.now() - t0
      const ms = yield* timeIt(runner.run({ prompt, batch: b, outputs: ["loss", "promptGrad"] }), 0, iters)
      const flops = T5Graph.stepFlops(model.config, { batch, srcLen: src, promptLen, tgtLen: tgt })
      return {
        compile_and_first_step_ms: firstMs,
        step_ms: ms,
        examples_per_s: (batch * 1000) / ms,
        flops_per_step: flops,
        gflops: flops / (ms * 1e6),
      }
    }),
  )

const step = Command.make(
  "step",
  {
    model: Flag.String("model").pipe(
      Flag.withDefault("random:t5-v1_1-small"),
      Flag.withDescription("checkpoint folder or random:<preset>"),
    ),
    batch: Flag.Int("batch").pipe(Flag.withDefault(8)),
    src: Flag.Int("src").pipe(Flag.withDefault(128)),
    prompt: Flag.Int("prompt").pipe(Flag.withDefault(100)),
    tgt: Flag.Int("tgt").pipe(Flag.withDefault(4)),
    iters: Flag.Int("iters").pipe(Flag.withDefault(3)),
    matmul: Flag.Int("matmul-n").pipe(
      Flag.withDefault(1024),
      Flag.withDescription("also measure an n³ matmul in the same run (0: skip)"),
    ),
    tile,
    profile: Flag.Boolean("profile").pipe(
      Flag.withDefault(false),
      Flag.withDescription("webgpu only: time each op (dispatches run one by one) and print the slowest"),
    ),
    ...backendFlags,
    ...onnxFlags,
    json,
  },
  ({
    model: spec,
    batch,
    src,
    prompt,
    tgt,
    iters,
    matmul: mm,
    tile,
    profile,
    json,
    weights,
    ortOpt,
    spinning,
    arena,
    memPattern,
    ortProfile,
    ...choice
  }) =>
    Effect.gen(function* () {
      yield* checkInts([
        ["--batch", batch, 1, 65_536],
        ["--src", src, 1, 65_536],
        ["--prompt", prompt, 0, 100_000],
        ["--tgt", tgt, 1, 8_192],
        ["--iters", iters, 1, 1_000_000],
        ["--matmul-n", mm, 0, 65_536],
      ])
      const info = yield* describeBackend
      const ref = mm > 0 ? yield* matmulGflops(mm) : undefined
      const model = yield* loadModel(spec)
      const r = yield* stepBench(model, batch, src, prompt, tgt, iters)
      const out = {
        model: spec,
        batch,
        src,
        prompt,
        tgt,
        ...r,
        ...(ref ? { matmul_gflops: ref.gflops, fraction_of_matmul_peak: r.gflops / ref.gflops } : {}),
        peak_rss_mb: peakRssMb(),
        ...info,
      }
      const backend = yield* Backend
      const ops = profile && "profile" in backend ? (backend as WebGpuBackendShape).profile().slice(0, 15) : undefined
      yield* json
        ? printJson(ops ? { ...out, profile: ops } : out)
        : printRecord(`prompt-tuning step on ${info.backend}`, { ...out, provider: undefined })
      if (ops && !json) {
        yield* Console.log("slowest ops (ms over every timed run, dispatches):")
        for (const r of ops) yield* Console.log(`  ${r.op.padEnd(28)} ${r.ms.toFixed(1).padStart(9)}  ${r.dispatches}`)
      }
    }).pipe(
      Effect.provide(
        backendLayer(
          choice,
          { tiles: parseTile(tile), profile },
          onnxTuning({ weights, ortOpt, spinning, arena, memPattern, ortProfile }),
        ),
      ),
    ),
).pipe(Command.withDescription("Time one prompt-tuning step (forward + prompt gradient)."))

/** Synthetic task embedding i: smooth random-ish values, each a function of (i, position). */
const syntheticPrompt = (i: number, L: number, d: number, out: Float32Array) => {
  let s = (i * 2654435761) >>> 0
  for (let j = 0; j < L * d; j++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    out[j] = s / 4294967296 - 0.5
  }
  return { dtype: "f32", shape: [L, d], data: out } as const
}

const retrieve = Command.make(
  "retrieve",
  {
    entries: Flag.Int("entries").pipe(Flag.withDefault(100000)),
    length: Flag.Int("length").pipe(Flag.withDefault(100)),
    dim: Flag.Int("dim").pipe(Flag.withDefault(768)),
    k: Flag.Int("k").pipe(Flag.withDefault(10)),
    dir: Flag.String("dir").pipe(Flag.withDefault(""), Flag.withDescription("where to write the index (default: a temp folder)")),
    ...backendFlags,
    json,
  },
  ({ entries, length, dim, k, dir, json, ...choice }) =>
    Effect.gen(function* () {
      yield* checkInts([
        ["--entries", entries, 1, 100_000_000],
        ["--length", length, 1, 100_000],
        ["--dim", dim, 1, 1 << 16],
        ["--k", k, 1, 100_000_000],
      ])
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const info = yield* describeBackend
      const where = dir || (yield* fs.makeTempDirectory({ prefix: "spot-retrieve-" }))
      yield* fs.makeDirectory(where, { recursive: true })
      const file = path.join(where, "index.safetensors")
      // build: the library's own index code path, fed synthetic task embeddings one at a time
      const t0 = performance.now()
      const buf = new Float32Array(length * dim)
      const rows = function* () {
        for (let i = 0; i < entries; i++) {
          yield {
            row: { entry: `task-${i}`, task: `task-${i}`, seed: 0, fingerprint: "bench", promptLength: length },
            embedding: syntheticPrompt(i, length, dim, buf),
          }
        }
      }
      const built = Search.buildIndex(dim, rows())
      yield* Safetensors.writeFileAtomic(file, Search.encodeIndex(built))
      const buildMs = performance.now() - t0
      const indexBytes = (yield* fs.stat(file)).size
      // cold open: read, decode, compile, first query
      const target = Similarity.perTokenAverageCosine.summary(
        syntheticPrompt(entries + 1, length, dim, new Float32Array(length * dim)),
      )
      const t1 = performance.now()
      const ix = yield* Search.openIndexFile(file)
      const searcher = yield* Search.makeSearcher(ix)
      yield* searcher.query("per-token-average-cosine", target, k)
      const openMs = performance.now() - t1
      // warm queries, both metrics
      const target2 = Similarity.cosineOfAverage.summary(
        syntheticPrompt(entries + 2, length, dim, new Float32Array(length * dim)),
      )
      const queryMs = yield* timeIt(
        Effect.all([searcher.query("per-token-average-cosine", target, k), searcher.query("cosine-of-average", target2, k)]),
        1,
        5,
      )
      // a plain in-memory copy of the same number of bytes
      const src = new Uint8Array(Number(indexBytes))
      src.fill(1)
      const dst = new Uint8Array(src.length)
      const copyMs = yield* timeIt(
        Effect.sync(() => dst.set(src)),
        1,
        5,
      )
      // the definition, per entry (on a sample)
      const sample = 200
      const a = syntheticPrompt(entries + 1, length, dim, new Float32Array(length * dim))
      const b = new Float32Array(length * dim)
      const t2 = performance.now()
      for (let i = 0; i < sample; i++) Similarity.perTokenAverageCosine.naive(a, syntheticPrompt(i, length, dim, b))
      const naiveMsPerEntry = (performance.now() - t2) / sample
      const top = yield* searcher.query("per-token-average-cosine", target, k)
      const r = {
        entries,
        length,
        dim,
        k,
        index_bytes: Number(indexBytes),
        build_ms: buildMs,
        open_ms: openMs,
        query_ms: queryMs,
        copy_ms: copyMs,
        query_over_copy: queryMs / copyMs,
        naive_ms_per_entry: naiveMsPerEntry,
        naive_ms_full_scan_estimate: naiveMsPerEntry * entries,
        top: top.slice(0, 3).map((t) => ({ entry: t.row.entry, similarity: t.similarity })),
        peak_rss_mb: peakRssMb(),
        ...info,
      }
      if (!dir) yield* fs.remove(where, { recursive: true })
      yield* json
        ? printJson(r)
        : printRecord(`retrieval over ${entries} candidates on ${info.backend}`, { ...r, top: undefined, provider: undefined })
    }).pipe(Effect.provide(backendLayer(choice))),
).pipe(Command.withDescription("Retrieval at scale: build a synthetic index through the library's code path and time queries."))

export const bench = Command.make("bench").pipe(
  Command.withDescription("Benchmarks (see docs/benchmarks.md)."),
  Command.withSubcommands([matmul, step, retrieve, ...loadBenches, grid]),
)
