/**
 * The IR: shape inference at construction (numpy broadcasting, matmul, reductions, layout ops), shape
 * errors carried on nodes instead of thrown, graph checks, topological order and matmul FLOPs.
 */
import { IR } from "@spot/core/graph"
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"

const dim = fc.integer({ min: 1, max: 5 })
const shape = fc.array(dim, { minLength: 0, maxLength: 4 })

/** Two shapes that broadcast: `b` drops leading axes of `a` and sets some of its axes to 1. */
const broadcastable = shape.chain((a) =>
  fc
    .tuple(
      fc.integer({ min: 0, max: a.length }),
      fc.array(fc.boolean(), { minLength: a.length, maxLength: a.length }),
      fc.boolean(),
    )
    .map(([drop, ones, swap]) => {
      const b = a.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d))
      return swap ? ([b, a] as const) : ([a, b] as const)
    }),
)

describe("IR shape inference", () => {
  it("broadcasting is commutative and gives, per trailing axis, the larger size", () => {
    fc.assert(
      fc.property(broadcastable, ([a, b]) => {
        const ab = IR.broadcastShapes(a, b)
        expect(ab).toEqual(IR.broadcastShapes(b, a))
        const n = Math.max(a.length, b.length)
        const expected = Array.from({ length: n }, (_, i) => Math.max(a[a.length - n + i] ?? 1, b[b.length - n + i] ?? 1))
        expect(ab).toEqual(expected)
        const node = IR.add(IR.input("a", a), IR.input("b", b))
        expect(node.error).toBeUndefined()
        expect(node.shape).toEqual(expected)
      }),
    )
  })

  it("mismatched shapes give a node carrying a ShapeError that names the op, never a throw", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 6 }), fc.integer({ min: 2, max: 6 }), (m, k) => {
        const bad = IR.matmul(IR.input("a", [m, k]), IR.input("b", [k + 1, 3]))
        expect(bad.error?.op).toBe("matmul")
        // the error travels to every user, and checkGraph reports it
        const user = IR.exp(IR.add(bad, IR.scalar(1)))
        expect(user.error).toBeDefined()
        const checked = IR.checkGraph({ outputs: { y: user } })
        expect(Result.isFailure(checked) && checked.failure.op).toBe("matmul")
      }),
    )
    expect(IR.add(IR.input("a", [2, 3]), IR.input("b", [4])).error?._tag).toBe("ShapeError")
    expect(IR.reshape(IR.input("a", [2, 3]), [5]).error).toBeDefined()
  })

  it("matmul, reductions and layout ops infer the shapes their definitions give", () => {
    fc.assert(
      fc.property(dim, dim, dim, dim, (b, m, k, n) => {
        const x = IR.input("x", [b, m, k])
        expect(IR.matmul(x, IR.input("w", [k, n])).shape).toEqual([b, m, n])
        expect(IR.sum(x, 1).shape).toEqual([b, k])
        expect(IR.sum(x, [0, 2], true).shape).toEqual([1, m, 1])
        expect(IR.transpose(x, [2, 0, 1]).shape).toEqual([k, b, m])
        expect(IR.reshape(x, [b * m, k]).shape).toEqual([b * m, k])
        expect(IR.concat([x, x], 1).shape).toEqual([b, 2 * m, k])
        expect(IR.pad(x, [0, 1, 0], [2, 0, 0]).shape).toEqual([b + 2, m + 1, k])
        expect(IR.softmax(x).shape).toEqual([b, m, k])
        expect(IR.gather(IR.input("t", [n, k]), IR.input("ids", [b, m], "i32")).shape).toEqual([b, m, k])
      }),
    )
  })
})

describe("IR graphs", () => {
  it("topo lists each node once, inputs before their users", () => {
    const x = IR.input("x", [2, 2])
    const shared = IR.exp(x)
    const y = IR.add(IR.mul(shared, shared), IR.neg(shared))
    const order = IR.topo([y, shared])
    expect(new Set(order).size).toBe(order.length)
    for (const n of order) for (const i of n.inputs) expect(order.indexOf(i)).toBeLessThan(order.indexOf(n))
    expect(order.filter((n) => n === shared)).toHaveLength(1)
  })

  it("checkGraph refuses one input name declared with two shapes", () => {
    const g = { outputs: { y: IR.add(IR.input("x", [2]), IR.sum(IR.input("x", [3]))) } }
    const r = IR.checkGraph(g)
    expect(Result.isFailure(r) && r.failure.message).toContain('"x"')
  })

  it("matmulFlops counts 2·m·k·n per product, batch included", () => {
    fc.assert(
      fc.property(dim, dim, dim, dim, (b, m, k, n) => {
        const p = IR.matmul(IR.input("x", [b, m, k]), IR.input("w", [k, n]))
        const q = IR.matmul(p, IR.input("v", [n, 2]))
        expect(IR.matmulFlops([q])).toBe(2 * b * m * k * n + 2 * b * m * n * 2)
      }),
    )
  })
})
