import type { HostTensor } from "@spot/core"
import { Interpreter, Tensor } from "@spot/core"
import { Effect, Exit, Result, Scope } from "effect"
import { afterAll } from "vitest"
import type { Graph } from "../src/graph/ir.ts"

/** Small deterministic PRNG (mulberry32) for test data. */
export const rng = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const randomTensor = (shape: readonly number[], seed: number, lo = -1, hi = 1): HostTensor<"f32"> => {
  const r = rng(seed)
  const t = Tensor.f32(shape)
  for (let i = 0; i < t.data.length; i++) t.data[i] = lo + (hi - lo) * r()
  return t
}

/** Runs a graph on the reference interpreter, failing the test on error. */
export const run = (graph: Graph, inputs: Record<string, HostTensor>) => {
  const r = Interpreter.evaluate(graph, inputs)
  if (Result.isFailure(r)) throw new Error(`${r.failure.op}: ${r.failure.message}`)
  return r.success
}

/** Central finite differences of a scalar function of one input, in the input's layout. */
export const finiteDiff = (f: (x: Float32Array) => number, x: Float32Array, eps: number): Float64Array => {
  const g = new Float64Array(x.length)
  for (let i = 0; i < x.length; i++) {
    const p = Float32Array.from(x)
    const m = Float32Array.from(x)
    p[i] += eps
    m[i] -= eps
    g[i] = (f(p) - f(m)) / (p[i] - m[i])
  }
  return g
}

export const maxRelErr = (got: ArrayLike<number>, want: ArrayLike<number>, floor = 1) => {
  let m = 0
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]) / Math.max(floor, Math.abs(want[i])))
  return m
}

/** A scope for resources (T5 runners) that live as long as a test file: closed after its tests. */
export const fileScope = (): Scope.Closeable => {
  const scope = Scope.makeUnsafe()
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))
  return scope
}
