/**
 * Checkpoints read by ranges: a > 2 GiB file (sparse: only the bytes the test checks are real) whose
 * weights sit beyond the 2 GiB offset, the same as the first shard of a sharded checkpoint, and a BF16 checkpoint made from an f32 fixture that reproduces
 * the fixture's loss within bf16 rounding.
 */
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { type HostTensor, Parity, ReferenceBackend, Safetensors, T5Checkpoint, T5Runner } from "@spot/core"
import { Effect, Layer, Result } from "effect"
import { describe, expect, it } from "vitest"
import { fixtureDir } from "./fixtures.ts"
import { tempDirs } from "./node-util.ts"

const temp = tempDirs("spot-ranges-")

const layer = Layer.mergeAll(NodeServices.layer, ReferenceBackend.layer)
const run = <A, E>(eff: Effect.Effect<A, E, never>) => Effect.runPromise(eff)

type Raw = { dtype: string; shape: readonly number[]; bytes: Uint8Array }

/** Writes a safetensors file whose tensors are `raw` (in order) after `gap` unused bytes held by a tensor `pad`. */
const writeLaidOut = (file: string, tensors: ReadonlyArray<readonly [string, Raw]>, gap: number) => {
  const header: Record<string, unknown> = {}
  let offset = 0
  if (gap > 0) {
    header["encoder.embed_tokens.weight"] = { dtype: "F32", shape: [gap / 4], data_offsets: [0, gap] }
    offset = gap
  }
  for (const [name, t] of tensors) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] }
    offset += t.bytes.length
  }
  let json = JSON.stringify(header)
  json += " ".repeat((8 - (json.length % 8)) % 8)
  const head = new Uint8Array(8 + json.length)
  new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true)
  head.set(new TextEncoder().encode(json), 8)
  const fd = openSync(file, "w")
  try {
    writeSync(fd, head, 0, head.length, 0)
    let at = head.length + gap
    for (const [, t] of tensors) {
      writeSync(fd, t.bytes, 0, t.bytes.length, at)
      at += t.bytes.length
    }
  } finally {
    closeSync(fd)
  }
  return head.length + offset
}

const fixtureTensors = (name: string) =>
  Result.getOrThrow(
    Safetensors.decodeSafetensors(new Uint8Array(readFileSync(join(fixtureDir(name), "model", "model.safetensors")))),
  ).tensors

const rawF32 = (t: HostTensor): Raw => ({
  dtype: "F32",
  shape: [...t.shape],
  bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
})

/** Round-to-nearest-even f32 → bf16 (the high 16 bits), computed here independently of the reader. */
const toBf16 = (x: Float32Array): Uint16Array => {
  const u = new Uint32Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength))
  const out = new Uint16Array(u.length)
  for (let i = 0; i < u.length; i++) out[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16
  return out
}
const fromBf16 = (h: Uint16Array): Float32Array => new Float32Array(Uint32Array.from(h, (v) => v << 16).buffer)

describe("checkpoints read by ranges", () => {
  it("loads weights that lie beyond 2 GiB in a sparse > 2 GiB model.safetensors", async () => {
    const dir = temp()
    copyFileSync(join(fixtureDir("t5-tiny"), "model", "config.json"), join(dir, "config.json"))
    const tensors = [...fixtureTensors("t5-tiny")].filter(([n]) => n !== "encoder.embed_tokens.weight")
    const gap = 2 ** 31 + 4096 // the unused tensor ends past 2 GiB; everything the model reads follows it
    const size = writeLaidOut(
      join(dir, "model.safetensors"),
      tensors.map(([n, t]) => [n, rawF32(t)] as const),
      gap,
    )
    expect(size).toBeGreaterThan(2 ** 31)
    const model = await run(T5Checkpoint.loadCheckpoint(dir).pipe(Effect.provide(NodeServices.layer)))
    for (const [name, t] of tensors) {
      const got = model.weights.get(name)
      if (got === undefined) continue // a tensor the graph does not read
      expect(Array.from(got.data)).toEqual(Array.from(t.data as Float32Array))
    }
    // one tensor read directly, at its offset past 2 GiB
    const direct = await run(
      Effect.scoped(
        Effect.gen(function* () {
          const r = yield* Safetensors.openSafetensors(join(dir, "model.safetensors"))
          const e = r.entries.get("shared.weight")
          return { start: r.dataStart + (e?.start ?? 0), t: yield* r.read("shared.weight") }
        }),
      ).pipe(Effect.provide(NodeServices.layer)),
    )
    expect(direct.start).toBeGreaterThan(2 ** 31)
    expect(Array.from(direct.t.data as Float32Array)).toEqual(
      Array.from((fixtureTensors("t5-tiny").get("shared.weight")?.data ?? []) as Float32Array),
    )
  }, 60_000)

  it("loads a sharded checkpoint (model.safetensors.index.json) whose first shard is a sparse > 2 GiB file", async () => {
    const dir = temp()
    copyFileSync(join(fixtureDir("t5-tiny"), "model", "config.json"), join(dir, "config.json"))
    const all = [...fixtureTensors("t5-tiny")].filter(([n]) => n !== "encoder.embed_tokens.weight")
    // shared.weight and half of the rest lie past 2 GiB in the first shard; the others in a small second one
    const rest = all.filter(([n]) => n !== "shared.weight")
    const first = [...all.filter(([n]) => n === "shared.weight"), ...rest.slice(0, Math.floor(rest.length / 2))]
    const second = rest.slice(Math.floor(rest.length / 2))
    const shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    const gap = 2 ** 31 + 4096
    const big = writeLaidOut(
      join(dir, shards[0]),
      first.map(([n, t]) => [n, rawF32(t)] as const),
      gap,
    )
    writeLaidOut(
      join(dir, shards[1]),
      second.map(([n, t]) => [n, rawF32(t)] as const),
      0,
    )
    expect(big).toBeGreaterThan(2 ** 31)
    const weightMap = Object.fromEntries([
      ["encoder.embed_tokens.weight", shards[0]],
      ...first.map(([n]) => [n, shards[0]]),
      ...second.map(([n]) => [n, shards[1]]),
    ])
    writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }))
    const model = await run(T5Checkpoint.loadCheckpoint(dir).pipe(Effect.provide(NodeServices.layer)))
    // the same weights as the fixture's single file, read from both shards
    const reference = await run(
      T5Checkpoint.loadCheckpoint(join(fixtureDir("t5-tiny"), "model")).pipe(Effect.provide(NodeServices.layer)),
    )
    expect([...model.weights.keys()].sort()).toEqual([...reference.weights.keys()].sort())
    for (const [name, t] of reference.weights) expect(Array.from(model.weights.get(name)?.data ?? [])).toEqual(Array.from(t.data))
    expect(model.weights.has("shared.weight")).toBe(true)
    expect(second.some(([n]) => model.weights.has(n))).toBe(true)
  }, 60_000)

  it("fails with a typed error naming the file when the data is shorter than the header says", async () => {
    const dir = temp()
    const file = join(dir, "short.safetensors")
    writeLaidOut(file, [["x", rawF32({ dtype: "f32", shape: [4], data: new Float32Array(4) })]], 0)
    const bytes = readFileSync(file)
    const fd = openSync(file, "w")
    writeSync(fd, bytes, 0, bytes.length - 4, 0)
    closeSync(fd)
    const r = await Effect.runPromise(Effect.result(Safetensors.readSafetensors(file)).pipe(Effect.provide(NodeServices.layer)))
    expect(Result.isFailure(r)).toBe(true)
    if (Result.isFailure(r)) {
      expect(r.failure._tag).toBe("SafetensorsError")
      expect(r.failure.file).toBe(file)
    }
  })

  it("a BF16 checkpoint made from the f32 fixture reproduces its loss within bf16 rounding", async () => {
    const name = "t5v1_1-untied-tiny"
    const fx = temp()
    mkdirSync(join(fx, "model"))
    copyFileSync(join(fixtureDir(name), "model", "config.json"), join(fx, "model", "config.json"))
    copyFileSync(join(fixtureDir(name), "reference.safetensors"), join(fx, "reference.safetensors"))
    const f32 = fixtureTensors(name)
    const halves = [...f32].map(([n, t]) => {
      const h = toBf16(t.data as Float32Array)
      return [n, { dtype: "BF16", shape: [...t.shape], bytes: new Uint8Array(h.buffer) }] as const
    })
    writeLaidOut(join(fx, "model", "model.safetensors"), halves, 0)
    const report = await run(Parity.runParity(fx).pipe(Effect.provide(layer)))
    // the loss of the f32 model whose weights were rounded to bf16 here, independently of the reader
    const rounded = await run(
      Effect.gen(function* () {
        const m = yield* T5Checkpoint.loadCheckpoint(join(fixtureDir(name), "model"))
        const weights = new Map(
          [...m.weights].map(([n, t]) => [n, { ...t, data: fromBf16(toBf16(t.data)) }] as [string, HostTensor<"f32">]),
        )
        const ref = yield* Safetensors.readSafetensors(join(fixtureDir(name), "reference.safetensors"))
        const get = (k: string) => ref.tensors.get(k) as HostTensor
        const runner = yield* T5Runner.makeRunner({ ...m, weights })
        const out = yield* runner.run({
          prompt: get("prompt"),
          batch: { inputIds: get("input_ids"), attentionMask: get("attention_mask"), labels: get("labels") },
          outputs: ["loss"],
        })
        return (out.loss as HostTensor<"f32">).data[0]
      }).pipe(Effect.scoped, Effect.provide(layer)),
    )
    expect(Math.abs(report.loss - rounded) / rounded).toBeLessThan(1e-6)
    // bf16 keeps 8 significant bits (relative rounding ≤ 2^-9 per weight); the loss moves by about that much
    expect(report.loss_rel_err).toBeLessThan(2 ** -9 * 8)
    expect(report.loss_rel_err).toBeGreaterThan(0)
  }, 60_000)
})
