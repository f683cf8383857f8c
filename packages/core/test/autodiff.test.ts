/**
 * Every op's VJP against central finite differences on random shapes and values (fast-check), plus
 * composed blocks (RMS norm, attention, cross-entropy). The case table is exhaustive over the op
 * union: adding an op without a gradient test is a type error, like adding one without a rule.
 */
import { Autodiff, IR, Tensor } from "@spot/core"
import { awayFromZero, CASES, type Case, seed } from "@spot/core/testing"
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Node } from "../src/graph/ir.ts"
import { finiteDiff, maxRelErr, randomTensor, rng, run } from "./util.ts"

const dimsOf = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 })

/** loss = sum(build(x) * W); compares d loss / d x from the graph with finite differences. */
const checkCase = (c: Case, eps = 1e-2, tol = 3e-3) => {
  const nodes: Record<string, Node> = {}
  for (const [k, t] of Object.entries(c.wrt)) nodes[k] = IR.input(k, t.shape)
  for (const [k, t] of Object.entries(c.fixed ?? {})) nodes[k] = IR.input(k, t.shape, t.dtype === "f32" ? "f32" : "i32")
  const y = c.build(nodes)
  expect(y.error).toBeUndefined()
  const W = randomTensor(y.shape, 4242)
  const loss = IR.sum(IR.mul(y, IR.input("W", y.shape)))
  const names = Object.keys(c.wrt)
  const g = Autodiff.grad(
    loss,
    names.map((n) => nodes[n]),
  )
  if (Result.isFailure(g)) throw new Error(g.failure.message)
  const feeds = { ...c.wrt, ...c.fixed, W }
  const outs = run({ outputs: Object.fromEntries(g.success.map((n, i) => [names[i], n])) }, feeds)
  names.forEach((name) => {
    const f = (x: Float32Array) => run({ outputs: { loss } }, { ...feeds, [name]: { ...c.wrt[name], data: x } }).loss.data[0]
    const fd = finiteDiff(f, c.wrt[name].data, eps)
    expect(outs[name].shape).toEqual(c.wrt[name].shape)
    expect(maxRelErr(outs[name].data as Float32Array, fd)).toBeLessThan(tol)
  })
}

describe("VJP of every op vs central finite differences", () => {
  for (const [kind, arb] of Object.entries(CASES)) {
    it(kind, () => {
      fc.assert(
        fc.property(arb, (c) => checkCase(c)),
        { numRuns: 40 },
      )
    })
  }
})

describe("composed graphs", () => {
  it("RMS norm", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 6 }), seed, (n, d, k) =>
        checkCase(
          {
            wrt: { x: awayFromZero([n, d], k), w: randomTensor([d], k + 1) },
            build: ({ x, w }) => IR.mul(IR.mul(x, IR.rsqrt(IR.add(IR.mean(IR.mul(x, x), -1, true), 1e-6))), w),
          },
          1e-3,
        ),
      ),
      { numRuns: 50 },
    )
  })
  it("attention block with additive mask", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        seed,
        (b, n, dk, k) => {
          const mask = Tensor.f32(
            [b, 1, 1, n],
            Array.from({ length: b * n }, (_, i) => (i % n === n - 1 && n > 1 ? -1e9 : 0)),
          )
          checkCase({
            wrt: {
              q: randomTensor([b, 2, n, dk], k),
              kk: randomTensor([b, 2, n, dk], k + 1),
              v: randomTensor([b, 2, n, dk], k + 2),
            },
            fixed: { m: mask },
            build: ({ q, kk, v, m }) => IR.matmul(IR.softmax(IR.add(IR.matmul(q, IR.mT(kk)), m), -1), v),
          })
        },
      ),
      { numRuns: 50 },
    )
  })
  it("the gelu op and its gradient equal gelu_new written in primitive ops", () => {
    // Hugging Face's gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), and autodiff of that chain
    const composed = (x: Node) =>
      IR.mul(
        IR.mul(x, 0.5),
        IR.add(IR.tanh(IR.mul(IR.add(x, IR.mul(IR.mul(IR.mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI))), 1),
      )
    fc.assert(
      fc.property(dimsOf, seed, (shape, k) => {
        const x = IR.input("x", shape)
        const W = IR.input("W", shape)
        const feeds = { x: randomTensor(shape, k, -6, 6), W: randomTensor(shape, k + 1) }
        const [fused, plain] = [IR.gelu(x), composed(x)]
        const [gFused] = Result.getOrThrow(Autodiff.grad(IR.sum(IR.mul(fused, W)), [x]))
        const [gPlain] = Result.getOrThrow(Autodiff.grad(IR.sum(IR.mul(plain, W)), [x]))
        const [hFused] = Result.getOrThrow(Autodiff.grad(IR.sum(IR.mul(gFused, W)), [x]))
        const [hPlain] = Result.getOrThrow(Autodiff.grad(IR.sum(IR.mul(gPlain, W)), [x]))
        const out = run({ outputs: { fused, plain, gFused, gPlain, hFused, hPlain } }, feeds)
        expect(maxRelErr(out.fused.data, out.plain.data)).toBeLessThan(1e-5)
        expect(maxRelErr(out.gFused.data, out.gPlain.data)).toBeLessThan(1e-5)
        expect(maxRelErr(out.hFused.data, out.hPlain.data)).toBeLessThan(1e-4)
      }),
      { numRuns: 50 },
    )
  })
  it("cross-entropy with ignore index", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 6 }), seed, (n, V, k) => {
        const r = rng(k)
        const labels = Tensor.i32(
          [n],
          Array.from({ length: n }, (_, i) => (i > 0 && r() < 0.3 ? -100 : Math.floor(r() * V))),
        )
        checkCase({
          wrt: { logits: randomTensor([n, V], k, -3, 3) },
          fixed: { labels },
          build: ({ logits, labels: l }) => {
            const t = IR.oneHot(l, V)
            return IR.div(IR.sum(IR.neg(IR.mul(t, IR.logSoftmax(logits, -1)))), IR.sum(t))
          },
        })
      }),
      { numRuns: 50 },
    )
  })
})

describe("grad", () => {
  it("holds only what the requested gradients need", () => {
    const table = IR.input("table", [1000, 8])
    const ids = IR.input("ids", [2, 3], "i32")
    const prompt = IR.input("prompt", [2, 8])
    const h = IR.concat([IR.broadcast(IR.reshape(prompt, [1, 2, 8]), [2, 2, 8]), IR.gather(table, ids)], 1)
    const loss = IR.sum(IR.mul(h, h))
    const g = Autodiff.grad(loss, [prompt])
    expect(Result.isSuccess(g)).toBe(true)
    const kinds = IR.topo(Result.getOrThrow(g)).map((n) => n.op.kind)
    expect(kinds).not.toContain("scatterAdd")
    const gw = Result.getOrThrow(Autodiff.grad(loss, [table]))
    expect(IR.topo(gw).map((n) => n.op.kind)).toContain("scatterAdd")
  })
  it("gives zero for inputs the output does not depend on", () => {
    const x = IR.input("x", [3])
    const y = IR.input("y", [2])
    const [gy] = Result.getOrThrow(Autodiff.grad(IR.sum(x), [y]))
    expect(Array.from(run({ outputs: { gy } }, {}).gy.data)).toEqual([0, 0])
  })
  it("reports shape errors instead of throwing", () => {
    const bad = IR.add(IR.input("a", [2, 3]), IR.input("b", [4]))
    expect(bad.error?._tag).toBe("ShapeError")
    expect(bad.error?.message).toContain("cannot broadcast [2, 3] with [4]")
    const downstream = IR.sum(IR.exp(bad))
    expect(downstream.error).toBe(bad.error)
    expect(Result.isFailure(Autodiff.grad(downstream, []))).toBe(true)
    expect(IR.matmul(IR.input("a", [2, 3]), IR.input("b", [4, 5])).error?.message).toContain("inner dimensions")
    expect(IR.reshape(IR.input("a", [2, 3]), [5]).error?.message).toContain("cannot reshape")
  })
})
