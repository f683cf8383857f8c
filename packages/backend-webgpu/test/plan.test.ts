/**
 * The plan, with no GPU: pooling, free views, device limits, tile choice, axis merging, fusion,
 * the per-op emitter table and the kernels' parameter layouts.
 */
import { buildPlan, collapse, SMALL_TILE } from "@spot/backend-webgpu"
import { IR } from "@spot/core"
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { CASES } from "../../core/test/cases.ts"
import { gatherKernel, padKernel } from "../src/kernels/indexing.ts"
import { layout, MAXR, PARAM_WORDS } from "../src/kernels/kernel.ts"
import { MAX_FUSED_INPUTS, mapKernel } from "../src/kernels/map.ts"
import { MAX_BATCH_RANK, matmulKernel } from "../src/kernels/matmul.ts"
import { reduceThreadKernel } from "../src/kernels/reduce.ts"
import { EMITTERS, type Emitter } from "../src/plan/emitters.ts"

const limits = { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 30, maxComputeWorkgroupsPerDimension: 65535 }

describe("the plan", () => {
  const chain = (n: number) => {
    let x: IR.Node = IR.input("x", [64, 64])
    for (let i = 0; i < n; i++) x = IR.tanh(IR.add(IR.matmul(x, IR.input("w", [64, 64])), 1))
    return { outputs: { y: IR.sum(x) } }
  }
  const planOf = (g: IR.Graph, l = limits) => buildPlan(g, IR.topo(Object.values(g.outputs)), new Set(["w"]), l)
  it("pools temporaries: a deep chain needs a few slots, and no step writes a slot it reads", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), (n) => {
        const p = Result.getOrThrow(planOf(chain(n)))
        expect(p.slotBytes.length).toBeLessThanOrEqual(4)
        for (const s of p.steps) {
          const readSlots = s.reads.map((b) => p.slotOf[b]).filter((x) => x >= 0)
          if (p.slotOf[s.write] >= 0) expect(readSlots).not.toContain(p.slotOf[s.write])
        }
      }),
    )
  })
  it("views cost nothing: transpose and reshape of a weight add no step", () => {
    const x = IR.input("x", [4, 64])
    const w = IR.input("w", [64, 64])
    const g = { outputs: { y: IR.matmul(x, IR.transpose(w, [1, 0])) } }
    expect(Result.getOrThrow(planOf(g)).steps.length).toBe(1)
  })
  it("device limits give a typed error naming the op", () => {
    const small = { ...limits, maxStorageBufferBindingSize: 1024 }
    const r = planOf(chain(1), small)
    expect(Result.isFailure(r) && r.failure.message).toContain("storage buffer limit")
  })
  it("the small tiling serves products below the big tile", () => {
    const x = IR.input("x", [4, 64])
    const p = Result.getOrThrow(planOf({ outputs: { y: IR.matmul(x, IR.input("w", [64, 64])) } }))
    expect(p.steps[0].kernel.source).toContain(`workgroup_size(${SMALL_TILE.bn / SMALL_TILE.tn}`)
  })
  it("collapse merges exactly the axes every operand walks contiguously", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 5 }), (shape) => {
        const rm = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1))
        const c = collapse(shape, [rm, rm])
        const n = shape.reduce((a, b) => a * b, 1)
        expect(c.shape.reduce((a, b) => a * b, 1)).toBe(n)
        expect(c.shape.length).toBeLessThanOrEqual(1)
      }),
    )
  })
  it("a chain of elementwise ops is one kernel", () => {
    const x = IR.input("x", [4, 8])
    const b = IR.input("b", [8])
    const y = IR.tanh(IR.add(IR.mul(IR.exp(x), b), 1))
    const g = { outputs: { s: IR.sum(y) } }
    const p = Result.getOrThrow(buildPlan(g, IR.topo([g.outputs.s]), new Set(), limits))
    expect(p.steps.map((s) => s.op)).toEqual(["tanh", "sum"])
  })
  it("steps name what a profile and an id error report: a matmul's M×N×K×batch, a gather's row count", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 40 }),
        (batch, m, k, n) => {
          const a = IR.input("a", [batch, m, k])
          const c = IR.input("c", [batch, k, n])
          const table = IR.input("t", [n, 3])
          const ids = IR.input("ids", [m], "i32")
          const g = { outputs: { y: IR.matmul(a, c), z: IR.gather(table, ids) } }
          const p = Result.getOrThrow(buildPlan(g, IR.topo(Object.values(g.outputs)), new Set(), limits))
          const mm = p.steps.find((s) => s.op === "matmul")
          const ga = p.steps.find((s) => s.op === "gather")
          expect(mm?.label).toBe(`matmul ${m}×${n}×${k}×${batch}`)
          expect(ga?.idBound).toBe(n)
        },
      ),
    )
  })
})

describe("the emitter table and the kernels' parameter layouts", () => {
  it("has an emitter for every op (a missing one is a type error)", () => {
    // @ts-expect-error: the table type demands every op kind
    const partial: { readonly [K in IR.OpKind]: Emitter<K> } = { input: EMITTERS.input }
    expect(Object.keys(partial)).toEqual(["input"])
    // the same kinds as the conformance cases (also a table over every op kind), each a function
    expect(Object.keys(EMITTERS).sort()).toEqual(Object.keys(CASES).sort())
    for (const e of Object.values(EMITTERS)) expect(typeof e).toBe("function")
  })
  it("layout puts fields one after another, each at the sum of the sizes before it", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 8 }), (sizes) => {
        const fields = Object.fromEntries(sizes.map((s, i) => [`f${i}`, s]))
        const L = layout(fields)
        let at = 0
        sizes.forEach((s, i) => {
          expect(L.at[`f${i}`]).toBe(at)
          at += s
        })
        expect(L.words).toBe(at)
      }),
    )
  })
  it("every kernel encodes its largest parameters inside the uniform block, where its source reads them", () => {
    const full = Array.from({ length: MAXR }, (_, i) => i + 2)
    // a map kernel with the most inputs a fused chain may have, at the highest rank
    const n = MAX_FUSED_INPUTS
    const map = mapKernel(
      Array.from({ length: n }, () => "f32" as const),
      "f32",
      "x0",
    )
    const w = map.encode({
      count: 7,
      shape: full,
      strides: Array.from({ length: n + 1 }, () => full),
      offsets: Array.from({ length: n + 1 }, (_, j) => 100 + j),
      scalar: 1.5,
    })
    expect(w.length).toBe(PARAM_WORDS)
    // the source reads the scalar at the word where encode wrote 1.5's bits
    const scalarAt = Number(/let s = pf\((\d+)u\)/.exec(map.source)?.[1])
    expect(new Float32Array(w.buffer)[scalarAt]).toBe(1.5)
    // and the output offset where encode wrote 100
    const outAt = Number(/var o0 = p\((\d+)u\)/.exec(map.source)?.[1])
    expect(w[outAt]).toBe(100)
    const batch = Array.from({ length: MAX_BATCH_RANK }, (_, i) => i + 1)
    const mm = matmulKernel(SMALL_TILE).encode({
      M: 1,
      N: 2,
      K: 3,
      batchShape: batch,
      aBatch: batch,
      bBatch: batch,
      aOff: 4,
      bOff: 5,
      sAm: 6,
      sAk: 7,
      sBk: 8,
      sBn: 9,
    })
    expect(Array.from(mm.slice(0, 3))).toEqual([1, 2, 3])
    const red = reduceThreadKernel("sum").encode({
      outputs: 1,
      reduced: 2,
      kept: { shape: full, strides: full },
      red: { shape: full, strides: full },
      offset: 3,
    })
    expect(red.length).toBe(PARAM_WORDS)
    const pad = padKernel().encode({ count: 1, shape: full, before: full, inShape: full, inStrides: full, offset: 3 })
    expect(pad.length).toBe(PARAM_WORDS)
    const g = gatherKernel().encode({ count: 10, row: 2, rows: 5, code: 3, dataOffset: 4, idsOffset: 6 })
    const codeAt = Number(/atomicMax\(&err\[0\], p\((\d+)u\)\)/.exec(gatherKernel().source)?.[1])
    expect(g[codeAt]).toBe(3)
  })
})
