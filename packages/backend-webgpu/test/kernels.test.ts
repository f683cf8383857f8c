/**
 * What the shared conformance suite does not reach with its small random shapes: the big matmul
 * tiling over strided views, workgroup reductions and long softmax rows, runtime errors, device
 * limits and resident weights (the plan itself, with no GPU, is tested in `plan.test.ts`).
 */
import { buildPlan, requestDevice, WebGpuBackend, type WebGpuBackendShape } from "@spot/backend-webgpu"
import { Backend, type HostTensor, IR } from "@spot/core"
import { Effect, ManagedRuntime, Result } from "effect"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { maxRelErr, randomTensor, run } from "../../core/test/util.ts"
import { useSoftwareAdapter } from "./adapter.ts"

useSoftwareAdapter()
const device = await Effect.runPromise(requestDevice())
// one backend for the whole file: its pipelines and resident weights live until the file ends
const runtime = ManagedRuntime.make(WebGpuBackend.layer({ device }))
afterAll(() => runtime.dispose())

const onGpu = (graph: IR.Graph, feeds: Record<string, HostTensor>, weights = new Map<string, HostTensor>()) =>
  runtime.runPromise(
    Effect.result(
      Effect.gen(function* () {
        const b = yield* Backend
        const s = yield* b.compile(graph, weights)
        const out = yield* s.run(feeds)
        yield* s.dispose
        return out
      }),
    ),
  )

const expectClose = async (graph: IR.Graph, feeds: Record<string, HostTensor>, tol = 1e-5) => {
  const want = run(graph, feeds)
  const got = await onGpu(graph, feeds)
  if (Result.isFailure(got)) throw new Error(`${got.failure._tag}: ${got.failure.message}`)
  for (const [k, w] of Object.entries(want)) {
    expect(got.success[k].shape).toEqual(w.shape)
    const scale = Math.max(1, ...Array.from(w.data as Float32Array, Math.abs))
    expect(maxRelErr(got.success[k].data as Float32Array, w.data as Float32Array, scale)).toBeLessThan(tol)
  }
}

describe("webgpu kernels beyond the conformance shapes", () => {
  it("big-tile matmul over transposed and batched views, ragged edges", async () => {
    const a = IR.input("a", [2, 137, 70])
    const bt = IR.input("bt", [130, 70]) // used transposed, as linear layers use their weights
    const c = IR.input("c", [70, 131])
    const graph = {
      outputs: {
        y: IR.matmul(a, IR.transpose(bt, [1, 0])),
        z: IR.matmul(IR.mT(IR.matmul(a, c)), a), // [2,131,137] @ [2,137,70]: transposed A
      },
    }
    await expectClose(
      graph,
      { a: randomTensor([2, 137, 70], 1), bt: randomTensor([130, 70], 2), c: randomTensor([70, 131], 3) },
      2e-5,
    )
  })
  it("double-buffered tiles compute the same products (ragged, transposed, batched)", async () => {
    const t = (bm: number, bn: number, tm: number, tn: number) => ({ bm, bn, bk: 8, tm, tn, double: true })
    const tiles = { big: t(64, 64, 4, 4), tall: t(64, 32, 4, 4), wide: t(32, 64, 4, 4), small: t(16, 16, 4, 4) }
    const a = IR.input("a", [2, 70, 37])
    const w = IR.input("w", [45, 37])
    const c = IR.input("c", [2, 37, 20])
    const graph = { outputs: { y: IR.matmul(a, IR.transpose(w, [1, 0])), z: IR.matmul(a, c), u: IR.matmul(IR.mT(c), IR.mT(a)) } }
    const feeds = { a: randomTensor([2, 70, 37], 21), w: randomTensor([45, 37], 22), c: randomTensor([2, 37, 20], 23) }
    const want = run(graph, feeds)
    const got = await Effect.runPromise(
      Effect.gen(function* () {
        const b = yield* Backend
        const s = yield* b.compile(graph, new Map())
        return yield* s.run(feeds)
      }).pipe(Effect.provide(WebGpuBackend.layer({ device, tiles }))),
    ) // the layer's scope closes here: its buffers are destroyed, the shared device stays
    for (const k of ["y", "z", "u"]) {
      expect(maxRelErr(got[k].data as Float32Array, want[k].data as Float32Array, 1)).toBeLessThan(1e-5)
    }
    const limits = { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 30, maxComputeWorkgroupsPerDimension: 65535 }
    const plan = Result.getOrThrow(buildPlan(graph, IR.topo(Object.values(graph.outputs)), new Set(), limits, tiles))
    const mm = plan.steps.filter((st) => st.op === "matmul")
    expect(mm).toHaveLength(3)
    for (const st of mm) expect(st.kernel.source).toContain("let cur = (k0 / 8u) & 1u;")
  })
  it("tall and wide tilings with batched operands on both sides", async () => {
    const a = IR.input("a", [3, 150, 20])
    const b = IR.input("b", [3, 20, 70])
    const c = IR.input("c", [2, 70, 40])
    const d = IR.input("d", [2, 40, 150])
    const graph = { outputs: { tall: IR.matmul(a, b), wide: IR.matmul(c, d), wideT: IR.matmul(IR.mT(d), IR.mT(c)) } }
    await expectClose(
      graph,
      {
        a: randomTensor([3, 150, 20], 11),
        b: randomTensor([3, 20, 70], 12),
        c: randomTensor([2, 70, 40], 13),
        d: randomTensor([2, 40, 150], 14),
      },
      2e-5,
    )
  })
  it("long reductions (a workgroup per output) over inner and outer axes, and long softmax rows", async () => {
    const x = IR.input("x", [3, 700, 5])
    const graph = {
      outputs: {
        s1: IR.sum(x, 1),
        s0: IR.sum(x, [0, 1], true),
        m1: IR.max(x, 1),
        sm: IR.softmax(IR.transpose(x, [0, 2, 1]), -1),
        ls: IR.logSoftmax(x, 1),
      },
    }
    await expectClose(graph, { x: randomTensor([3, 700, 5], 4, -3, 3) })
  })
  it("scatterAdd with colliding ids sums every update", async () => {
    const ids = IR.input("ids", [300], "i32")
    const upd = IR.input("upd", [300, 3])
    const graph = { outputs: { y: IR.scatterAdd(ids, upd, 4) } }
    const idv = Int32Array.from({ length: 300 }, (_, i) => (i * 7) % 4)
    await expectClose(graph, { ids: { dtype: "i32", shape: [300], data: idv }, upd: randomTensor([300, 3], 5) })
  })
  it("an out-of-range id is a typed BackendError naming the op, not a silent zero", async () => {
    const table = IR.input("table", [3, 2])
    const ids = IR.input("ids", [2], "i32")
    const r = await onGpu(
      { outputs: { y: IR.gather(table, ids) } },
      { table: randomTensor([3, 2], 6), ids: { dtype: "i32", shape: [2], data: Int32Array.from([0, 7]) } },
    )
    expect(Result.isFailure(r) && r.failure).toMatchObject({ _tag: "BackendError", op: "gather" })
    expect(Result.isFailure(r) && r.failure.message).toBe("id 7 is outside [0, 3)")
  })
  it("a feed of the wrong shape or dtype is a typed error", async () => {
    const x = IR.input("x", [2, 2])
    const graph = { outputs: { y: IR.exp(x) } }
    const bad = await onGpu(graph, { x: randomTensor([4], 1) })
    expect(Result.isFailure(bad) && bad.failure).toMatchObject({ _tag: "BackendError", op: "input" })
    const missing = await onGpu(graph, {})
    expect(Result.isFailure(missing) && missing.failure.message).toContain('"x"')
  })
  it("weights stay resident: two graphs over one weight, and a weight of the wrong shape is refused", async () => {
    const w = randomTensor([8, 8], 9)
    const x = IR.input("x", [8])
    const W = IR.input("W", [8, 8])
    const g1 = { outputs: { y: IR.matmul(IR.reshape(x, [1, 8]), W) } }
    const g2 = { outputs: { y: IR.sum(IR.mul(W, 2)) } }
    const feeds = { x: randomTensor([8], 10) }
    const r1 = await onGpu(g1, feeds, new Map([["W", w]]))
    const r2 = await onGpu(g2, {}, new Map([["W", w]]))
    expect(Result.isSuccess(r1) && Result.isSuccess(r2)).toBe(true)
    const want = run(g2, { W: w }).y.data[0]
    expect(Result.isSuccess(r2) && r2.success.y.data[0]).toBeCloseTo(want, 3)
    const wrong = await onGpu(g1, feeds, new Map([["W", randomTensor([4, 16], 1)]]))
    expect(Result.isFailure(wrong) && wrong.failure.message).toContain('weight "W"')
  })
})

describe("profiling", () => {
  it("times every dispatch and files it under its op, a matmul under its M×N×K×batch", async () => {
    const a = IR.input("a", [2, 5, 3])
    const w = IR.input("w", [3, 4])
    const graph = { outputs: { y: IR.exp(IR.matmul(a, w)) } }
    const feeds = { a: randomTensor([2, 5, 3], 31), w: randomTensor([3, 4], 32) }
    const rows = await Effect.runPromise(
      Effect.gen(function* () {
        const b = (yield* Backend) as WebGpuBackendShape
        const s = yield* b.compile(graph, new Map())
        yield* s.run(feeds)
        yield* s.run(feeds)
        return b.profile()
      }).pipe(Effect.provide(WebGpuBackend.layer({ device, profile: true }))),
    )
    // B is shared by both batches, whose rows continue: one 10×4×3 product
    expect(rows.map((r) => [r.op, r.dispatches]).sort()).toEqual([
      ["exp", 2],
      ["matmul 10×4×3×1", 2],
    ])
    for (const r of rows) expect(r.ms).toBeGreaterThanOrEqual(0)
  })
})

describe("elementwise fusion", () => {
  // random expression DAGs over up to 9 inputs (some broadcast), so that the input limit splits kernels
  const ops = ["add", "sub", "mul", "tanh", "exp", "neg", "gelu", "geluDeriv", "where", "gt"] as const
  const dag = fc.record({
    leaves: fc.integer({ min: 1, max: 9 }),
    picks: fc.array(fc.tuple(fc.constantFrom(...ops), fc.nat(), fc.nat(), fc.nat()), { minLength: 1, maxLength: 14 }),
    seed: fc.integer({ min: 1, max: 1000 }),
  })
  it("fused kernels equal the reference on random expression DAGs", async () => {
    await fc.assert(
      fc.asyncProperty(dag, async ({ leaves, picks, seed }) => {
        const feeds: Record<string, HostTensor> = {}
        const nodes: IR.Node[] = []
        for (let i = 0; i < leaves; i++) {
          const shape = i % 3 === 2 ? [1, 5] : [3, 5]
          feeds[`x${i}`] = randomTensor(shape, seed + i, -0.8, 0.8)
          nodes.push(IR.input(`x${i}`, shape))
        }
        for (const [op, a, b, c] of picks) {
          const A = nodes[a % nodes.length]
          const B = nodes[b % nodes.length]
          const C = nodes[c % nodes.length]
          const n =
            op === "tanh" || op === "exp" || op === "neg" || op === "gelu" || op === "geluDeriv"
              ? IR[op](IR.mul(A, 0.5))
              : op === "where"
                ? IR.where(IR.gt(A, B), B, C)
                : IR[op](A, B)
          nodes.push(n)
        }
        const last = nodes[nodes.length - 1]
        const graph = { outputs: { y: last, s: IR.sum(IR.mul(last, nodes[Math.floor(nodes.length / 2)])) } }
        await expectClose(graph, feeds, 1e-5)
      }),
      { numRuns: 25 },
    )
  })
})
