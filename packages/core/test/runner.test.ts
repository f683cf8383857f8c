/**
 * The T5 runner as a scoped resource: its per-shape compiled sessions are disposed when its scope
 * closes. A counting backend (built with `Backend.make`, so every check still runs) holds a device
 * buffer per compiled session until that session is disposed, like a GPU backend would.
 */

import v8 from "node:v8"
import { runInNewContext } from "node:vm"
import type { HostTensor } from "@spot/core"
import { Backend, T5Presets, T5Runner, Tensor } from "@spot/core"
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { tinyConfig } from "./t5-util.ts"

const config = tinyConfig({ dFf: 6 })
const model = T5Presets.randomT5(config, 1)
const prompt = Tensor.f32(
  [2, 8],
  Array.from({ length: 16 }, (_, i) => Math.sin(i)),
)
const batchOf = (B: number, S: number, T: number) => ({
  inputIds: Tensor.i32(
    [B, S],
    Array.from({ length: B * S }, (_, i) => 2 + (i % 10)),
  ),
  attentionMask: Tensor.f32([B, S], new Array(B * S).fill(1)),
  labels: Tensor.i32(
    [B, T],
    Array.from({ length: B * T }, (_, i) => 3 + (i % 9)),
  ),
})

/** A backend that records compiles and disposals and keeps 64 KiB of "device memory" per live session. */
const countingBackend = () => {
  const stats = { compiled: 0, disposed: 0, runs: 0 }
  const live = new Set<Float32Array>()
  const scalar: HostTensor<"f32"> = { dtype: "f32", shape: [], data: new Float32Array([1]) }
  const backend = Backend.make({
    name: "counting",
    lower: () =>
      Effect.sync(() => {
        stats.compiled++
        const device = new Float32Array(16 * 1024)
        live.add(device)
        return device
      }),
    execute: () =>
      Effect.sync(() => {
        stats.runs++
        return { loss: scalar }
      }),
    dispose: (device) =>
      Effect.sync(() => {
        stats.disposed++
        live.delete(device)
      }),
  })
  return { stats, live, layer: Layer.succeed(Backend, backend) }
}

/** Forces a full garbage collection where the runtime allows it (Node through V8 flags, Bun); false if not. */
const forceGc = (): boolean => {
  const g = globalThis as { gc?: () => void; Bun?: { gc: (sync: boolean) => void } }
  if (g.Bun) {
    g.Bun.gc(true)
    return true
  }
  try {
    if (!g.gc) v8.setFlagsFromString("--expose-gc")
    const gc = g.gc ?? (runInNewContext("gc") as (() => void) | undefined)
    if (typeof gc !== "function") return false
    gc()
    return true
  } catch {
    return false
  }
}

/** Heap and array buffers in use, after a full collection. */
const memoryInUse = () => {
  forceGc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

describe("T5 runner (scoped)", () => {
  it("compiles one session per shape, reuses it, and disposes every session when its scope closes", () => {
    const c = countingBackend()
    const sessions = Effect.runSync(
      Effect.scoped(
        Effect.gen(function* () {
          const runner = yield* T5Runner.makeRunner(model)
          for (const [B, S, T] of [
            [1, 4, 2],
            [2, 4, 2],
            [1, 8, 2],
            [1, 4, 2],
            [2, 4, 2],
          ] as const) {
            yield* runner.run({ prompt, batch: batchOf(B, S, T), outputs: ["loss"] })
          }
          expect(c.stats.disposed).toBe(0)
          return runner.sessions()
        }),
      ).pipe(Effect.provide(c.layer)),
    )
    expect(sessions).toBe(3)
    expect(c.stats).toEqual({ compiled: 3, disposed: 3, runs: 5 })
    expect(c.live.size).toBe(0)
  })

  it("disposes sessions even when the scope closes with a failure", () => {
    const c = countingBackend()
    const exit = Effect.runSyncExit(
      Effect.scoped(
        Effect.gen(function* () {
          const runner = yield* T5Runner.makeRunner(model)
          yield* runner.run({ prompt, batch: batchOf(1, 4, 2), outputs: ["loss"] })
          // a prompt of the wrong width fails after one session was compiled
          return yield* runner.run({
            prompt: Tensor.f32([2, 3], new Array(6).fill(0)),
            batch: batchOf(1, 4, 2),
            outputs: ["loss"],
          })
        }),
      ).pipe(Effect.provide(c.layer)),
    )
    expect(exit._tag).toBe("Failure")
    expect(c.stats.compiled).toBe(1)
    expect(c.stats.disposed).toBe(1)
  })

  it("1,000 runners, each compiling a session in its own scope, leave no session and bounded memory behind", () => {
    const c = countingBackend()
    const once = Effect.scoped(
      Effect.gen(function* () {
        const runner = yield* T5Runner.makeRunner(model)
        yield* runner.run({ prompt, batch: batchOf(1, 4, 2), outputs: ["loss"] })
      }),
    ).pipe(Effect.provide(c.layer))
    Effect.runSync(once) // warm up (module code, JIT) before measuring
    const measured = forceGc()
    const before = memoryInUse()
    for (let i = 0; i < 1000; i++) Effect.runSync(once)
    const grown = memoryInUse() - before
    expect(c.stats.compiled).toBe(1001)
    expect(c.stats.disposed).toBe(1001)
    expect(c.live.size).toBe(0)
    // 1,000 leaked sessions would hold 64 MiB of device buffers alone (plus their graphs); without a
    // way to force a collection (some runtimes) the counts above are the check
    if (measured) expect(grown).toBeLessThan(32 * 1024 * 1024)
  }, 300_000)
})
