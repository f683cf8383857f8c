/**
 * The checks `Backend.make` does for every backend, as part of the conformance suite: a bad graph,
 * weight or feed is a `BackendError` naming it (never a crash or a silent wrong result), and i64
 * feeds are narrowed to i32 exactly, or refused when a value does not fit.
 */
import { Backend, type BackendError, type HostTensor, IR, type Outputs } from "@spot/core"

type Graph = IR.Graph

import { Effect, Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { randomTensor } from "./util.ts"

type OnBackend = <A>(e: Effect.Effect<A, BackendError, Backend>) => Promise<Result.Result<A, BackendError>>

const I32_MIN = -(2n ** 31n)
const I32_MAX = 2n ** 31n - 1n

const i64 = (shape: readonly number[], values: readonly bigint[]): HostTensor<"i64"> => ({
  dtype: "i64",
  shape,
  data: BigInt64Array.from(values),
})
const i32 = (shape: readonly number[], values: readonly number[]): HostTensor<"i32"> => ({
  dtype: "i32",
  shape,
  data: Int32Array.from(values),
})

/** Compiles `graph` with `weights` and runs it once on `feeds`. */
const compileAndRun = (graph: Graph, feeds: Record<string, HostTensor>, weights = new Map<string, HostTensor>()) =>
  Effect.gen(function* () {
    const backend = yield* Backend
    const session = yield* backend.compile(graph, weights)
    return yield* session.run(feeds).pipe(Effect.ensuring(session.dispose))
  })

/** Compiles only (weights are checked here, before any run). */
const compileOnly = (graph: Graph, weights: Map<string, HostTensor>) =>
  Effect.gen(function* () {
    const backend = yield* Backend
    const session = yield* backend.compile(graph, weights)
    yield* session.dispose
    return "compiled"
  })

/** The run failed with a `BackendError` whose message names `name` in quotes. */
const expectRefused = <A>(r: Result.Result<A, BackendError>, name: string) => {
  expect(Result.isFailure(r)).toBe(true)
  if (Result.isFailure(r)) {
    expect(r.failure._tag).toBe("BackendError")
    expect(r.failure.message).toContain(`"${name}"`)
  }
}

const expectValue = (r: Result.Result<Outputs, BackendError>) => {
  if (Result.isFailure(r)) throw new Error(`${r.failure._tag} (${r.failure.op}): ${r.failure.message}`)
  return r.success
}

// x: f32 [2, 3], ids: integers [4]; y = -x and the ids reshaped, both exact on every backend
const x = IR.input("x", [2, 3])
const ids = IR.input("ids", [4], "i32")
const graph: Graph = { outputs: { y: IR.neg(x), i: IR.reshape(ids, [2, 2]) } }
const good = { x: randomTensor([2, 3], 5), ids: i32([4], [0, 1, 2, 3]) }

const shapeArb = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 })
const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1)
const i32Value = fc.bigInt({ min: I32_MIN, max: I32_MAX })
const outOfRange = fc.oneof(
  fc.bigInt({ min: I32_MAX + 1n, max: 2n ** 63n - 1n }),
  fc.bigInt({ min: -(2n ** 63n), max: I32_MIN - 1n }),
)

export const checksSuite = (name: string, onBackend: OnBackend, runs: number) => {
  describe(`${name}: graph, weight and feed checks`, () => {
    it("a well-formed run passes the checks", async () => {
      const out = expectValue(await onBackend(compileAndRun(graph, good)))
      expect(Array.from(out.y.data)).toEqual(Array.from(good.x.data, (v) => -v))
      expect(out.i).toMatchObject({ dtype: "i32", shape: [2, 2] })
      expect(Array.from(out.i.data)).toEqual([0, 1, 2, 3])
    })
    it("a missing feed names the input", async () => {
      expectRefused(await onBackend(compileAndRun(graph, { ids: good.ids })), "x")
      expectRefused(await onBackend(compileAndRun(graph, { x: good.x })), "ids")
    })
    it("a feed of the wrong shape names the input", async () => {
      expectRefused(await onBackend(compileAndRun(graph, { ...good, x: randomTensor([3, 2], 1) })), "x")
      expectRefused(await onBackend(compileAndRun(graph, { ...good, ids: i32([1, 4], [0, 1, 2, 3]) })), "ids")
    })
    it("integers fed for an f32 input name the input", async () => {
      expectRefused(await onBackend(compileAndRun(graph, { ...good, x: i32([2, 3], [1, 2, 3, 4, 5, 6]) })), "x")
    })
    it("f32 fed for an integer input names the input", async () => {
      expectRefused(await onBackend(compileAndRun(graph, { ...good, ids: randomTensor([4], 2) })), "ids")
    })
    it("i64 ids are narrowed to i32 exactly, at both ends of the range", async () => {
      const values = [I32_MIN, -1n, 7n, I32_MAX]
      const out = expectValue(await onBackend(compileAndRun(graph, { ...good, ids: i64([4], values) })))
      expect(out.i.dtype).toBe("i32")
      expect(Array.from(out.i.data)).toEqual(values.map(Number))
    })
    it("an i64 id outside the i32 range names the input", async () => {
      expectRefused(await onBackend(compileAndRun(graph, { ...good, ids: i64([4], [0n, I32_MAX + 1n, 0n, 0n]) })), "ids")
      expectRefused(await onBackend(compileAndRun(graph, { ...good, ids: i64([4], [0n, 0n, 0n, I32_MIN - 1n]) })), "ids")
    })
    it("a weight of the wrong shape or dtype is refused at compile, naming the weight", async () => {
      const W = IR.input("W", [3, 2])
      const g: Graph = { outputs: { y: IR.matmul(x, W) } }
      expectRefused(await onBackend(compileOnly(g, new Map([["W", randomTensor([2, 3], 3)]]))), "W")
      expectRefused(await onBackend(compileOnly(g, new Map([["W", i32([3, 2], [1, 2, 3, 4, 5, 6])]]))), "W")
      const ok = await onBackend(compileOnly(g, new Map([["W", randomTensor([3, 2], 3)]])))
      expect(Result.isSuccess(ok) && ok.success).toBe("compiled")
    })
    it("a graph with a shape error is refused at compile", async () => {
      const bad: Graph = { outputs: { y: IR.add(IR.input("a", [2, 3]), IR.input("b", [4])) } }
      const r = await onBackend(compileOnly(bad, new Map()))
      expect(Result.isFailure(r) && r.failure._tag).toBe("BackendError")
    })
    it("property: random shapes and values; i64 in range is exact, out of range or misshapen is refused", async () => {
      const arb = shapeArb.chain((shape) =>
        fc.record({
          shape: fc.constant(shape),
          values: fc.array(i32Value, { minLength: sizeOf(shape), maxLength: sizeOf(shape) }),
          bad: fc.option(fc.tuple(fc.nat({ max: sizeOf(shape) - 1 }), outOfRange)),
          fedShape: fc.option(shapeArb.filter((s) => s.join() !== shape.join())),
          seed: fc.integer({ min: 1, max: 1000 }),
        }),
      )
      await fc.assert(
        fc.asyncProperty(arb, async ({ shape, values, bad, fedShape, seed }) => {
          const n = sizeOf(shape)
          const xs = IR.input("xs", shape)
          const id = IR.input("id", shape, "i32")
          const g: Graph = { outputs: { y: IR.neg(xs), i: IR.reshape(id, [n]) } }
          const fed = values.slice()
          if (bad) fed[bad[0]] = bad[1]
          const feeds = { xs: randomTensor(fedShape ?? shape, seed), id: i64(shape, fed) }
          const r = await onBackend(compileAndRun(g, feeds))
          if (fedShape) return expectRefused(r, "xs")
          if (bad) return expectRefused(r, "id")
          const out = expectValue(r)
          expect(Array.from(out.y.data)).toEqual(Array.from(feeds.xs.data, (v) => -v))
          expect(Array.from(out.i.data)).toEqual(values.map(Number))
        }),
        { numRuns: runs },
      )
    })
  })
}
