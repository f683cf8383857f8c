/** Random cases for every op (shared by the autodiff tests and the backend conformance suite). */
import { type HostTensor, IR, Tensor } from "@spot/core"
import fc from "fast-check"
import type { Node, OpKind } from "../src/graph/ir.ts"
import { randomTensor, rng } from "./util.ts"

export interface Case {
  /** Differentiable f32 inputs (checked) and fixed inputs (ids, masks). */
  readonly wrt: Record<string, HostTensor<"f32">>
  readonly fixed?: Record<string, HostTensor>
  readonly build: (x: Record<string, Node>) => Node
}

const dims = fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 })
export const seed = fc.integer({ min: 1, max: 2 ** 30 })

/** A shape and a second shape that broadcasts against it. */
const broadcastPair = fc
  .tuple(dims, fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), fc.integer({ min: 0, max: 2 }))
  .map(([a, ones, drop]) => {
    const b = a.map((d, i) => (ones[i] ? 1 : d)).slice(Math.min(drop, a.length - 1))
    return [a, b] as const
  })

const positive = (shape: readonly number[], s: number) => randomTensor(shape, s, 0.5, 2)
export const awayFromZero = (shape: readonly number[], s: number) => {
  const t = randomTensor(shape, s, 0.05, 1)
  const r = rng(s + 7)
  for (let i = 0; i < t.data.length; i++) if (r() < 0.5) t.data[i] = -t.data[i]
  return t
}
/** Values at least 0.1 apart (no ties for max). */
const distinct = (shape: readonly number[], s: number) => {
  const n = Tensor.size(shape)
  const r = rng(s)
  const v = Array.from({ length: n }, (_, i) => i * 0.1 - n * 0.05)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1))
    ;[v[i], v[j]] = [v[j], v[i]]
  }
  return Tensor.f32(shape, v)
}
const perm = (n: number, s: number) => {
  const r = rng(s)
  const p = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1))
    ;[p[i], p[j]] = [p[j], p[i]]
  }
  return p
}

const unary = (f: (x: Node) => Node, values: (s: readonly number[], seed: number) => HostTensor<"f32"> = randomTensor) =>
  fc.tuple(dims, seed).map(([s, k]): Case => ({ wrt: { x: values(s, k) }, build: ({ x }) => f(x) }))
const binary = (f: (a: Node, b: Node) => Node, bValues = randomTensor) =>
  fc.tuple(broadcastPair, seed, fc.boolean()).map(
    ([[sa, sb], k, swap]): Case => ({
      wrt: swap ? { a: randomTensor(sb, k), b: bValues(sa, k + 1) } : { a: randomTensor(sa, k), b: bValues(sb, k + 1) },
      build: ({ a, b }) => f(a, b),
    }),
  )
const axisCase = (f: (x: Node, axis: number) => Node) =>
  fc
    .tuple(dims, seed, fc.nat())
    .map(([s, k, a]): Case => ({ wrt: { x: randomTensor(s, k, -2, 2) }, build: ({ x }) => f(x, a % s.length) }))
const reduce = (f: (x: Node, axes: number[], keep: boolean) => Node, values = randomTensor) =>
  fc.tuple(dims, seed, fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), fc.boolean()).map(
    ([s, k, pick, keep]): Case => ({
      wrt: { x: values(s, k) },
      build: ({ x }) =>
        f(
          x,
          s.map((_, i) => i).filter((i) => pick[i]),
          keep,
        ),
    }),
  )

export const CASES: { readonly [K in OpKind]: fc.Arbitrary<Case> } = {
  input: unary((x) => x),
  constant: fc.tuple(dims, seed).map(([s, k]) => ({
    wrt: { x: randomTensor(s, k) },
    build: ({ x }: Record<string, Node>) => IR.mul(x, IR.constant(randomTensor(s, k + 3))),
  })),
  fill: unary((x) => IR.add(x, IR.fill(0.5, x.shape))),
  neg: unary(IR.neg),
  exp: unary(IR.exp),
  log: unary(IR.log, positive),
  tanh: unary(IR.tanh),
  sqrt: unary(IR.sqrt, positive),
  rsqrt: unary(IR.rsqrt, positive),
  recip: unary(IR.recip, positive),
  relu: unary(IR.relu, awayFromZero),
  gelu: unary(IR.gelu, (s, k) => randomTensor(s, k, -4, 4)),
  geluDeriv: unary(IR.geluDeriv, (s, k) => randomTensor(s, k, -4, 4)),
  add: binary(IR.add),
  sub: binary(IR.sub),
  mul: binary(IR.mul),
  div: binary(IR.div, positive),
  // comparisons carry no gradient: the product with a smooth term checks that only that term's gradient flows
  gt: fc.tuple(dims, seed).map(
    ([s, k]): Case => ({
      wrt: { a: awayFromZero(s, k), b: randomTensor(s, k + 1) },
      build: ({ a, b }) => IR.mul(IR.gt(a, IR.fill(0)), b),
    }),
  ),
  eq: fc.tuple(dims, seed).map(
    ([s, k]): Case => ({
      wrt: { a: awayFromZero(s, k), b: randomTensor(s, k + 1) },
      build: ({ a, b }) => IR.mul(IR.add(IR.eq(a, IR.mul(a, IR.gt(a, IR.fill(0)))), 1), b),
    }),
  ),
  where: fc.tuple(broadcastPair, seed).map(([[sa, sb], k]): Case => {
    const mask = randomTensor(sa, k + 9, 0, 1)
    for (let i = 0; i < mask.data.length; i++) mask.data[i] = mask.data[i] > 0.5 ? 1 : 0
    return {
      wrt: { a: randomTensor(sa, k), b: randomTensor(sb, k + 1) },
      fixed: { c: mask },
      build: ({ a, b, c }) => IR.where(c, a, b),
    }
  }),
  matmul: fc
    .tuple(
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 3 }),
      fc.constantFrom([], [2], [1, 2], [2, 1]),
      fc.constantFrom([], [2], [1], [2, 2]),
      seed,
    )
    .filter(([, , , ba, bb]) => IR.broadcastShapes(ba, bb) !== undefined)
    .map(
      ([m, k, n, ba, bb, s]): Case => ({
        wrt: { a: randomTensor([...ba, m, k], s), b: randomTensor([...bb, k, n], s + 1) },
        build: ({ a, b }) => IR.matmul(a, b),
      }),
    ),
  sum: reduce(IR.sum),
  max: reduce(IR.max, distinct),
  softmax: axisCase(IR.softmax),
  logSoftmax: axisCase(IR.logSoftmax),
  reshape: fc
    .tuple(dims, seed)
    .map(([s, k]): Case => ({ wrt: { x: randomTensor(s, k) }, build: ({ x }) => IR.reshape(x, [...s].reverse()) })),
  transpose: fc
    .tuple(dims, seed)
    .map(([s, k]): Case => ({ wrt: { x: randomTensor(s, k) }, build: ({ x }) => IR.transpose(x, perm(s.length, k)) })),
  slice: fc.tuple(dims, seed).map(([s, k]): Case => {
    const r = rng(k)
    const starts = s.map((d) => Math.floor(r() * d))
    const ends = s.map((d, i) => starts[i] + 1 + Math.floor(r() * (d - starts[i])))
    return { wrt: { x: randomTensor(s, k) }, build: ({ x }) => IR.slice(x, starts, ends) }
  }),
  pad: fc.tuple(dims, seed).map(([s, k]): Case => {
    const r = rng(k)
    return {
      wrt: { x: randomTensor(s, k) },
      build: ({ x }) =>
        IR.pad(
          x,
          s.map(() => Math.floor(r() * 2)),
          s.map(() => Math.floor(r() * 2)),
        ),
    }
  }),
  concat: fc.tuple(dims, seed, fc.nat(), fc.integer({ min: 1, max: 3 })).map(([s, k, a, extra]): Case => {
    const axis = a % s.length
    const s2 = s.map((d, i) => (i === axis ? extra : d))
    return { wrt: { a: randomTensor(s, k), b: randomTensor(s2, k + 1) }, build: ({ a, b }) => IR.concat([a, b, a], axis) }
  }),
  broadcast: fc.tuple(broadcastPair, seed).map(
    ([[sa, sb], k]): Case => ({
      wrt: { x: randomTensor(sb, k) },
      build: ({ x }) => IR.broadcast(x, IR.broadcastShapes(sa, sb) as number[]),
    }),
  ),
  gather: fc.tuple(fc.integer({ min: 1, max: 5 }), dims, fc.integer({ min: 1, max: 3 }), seed).map(([rows, ids, d, k]): Case => {
    const r = rng(k)
    const idx = Tensor.i32(
      ids,
      Array.from({ length: Tensor.size(ids) }, () => Math.floor(r() * rows)),
    )
    return { wrt: { t: randomTensor([rows, d], k) }, fixed: { ids: idx }, build: ({ t, ids: i }) => IR.gather(t, i) }
  }),
  scatterAdd: fc
    .tuple(fc.integer({ min: 1, max: 5 }), dims, fc.integer({ min: 1, max: 3 }), seed)
    .map(([rows, ids, d, k]): Case => {
      const r = rng(k)
      const idx = Tensor.i32(
        ids,
        Array.from({ length: Tensor.size(ids) }, () => Math.floor(r() * rows)),
      )
      return {
        wrt: { u: randomTensor([...ids, d], k) },
        fixed: { ids: idx },
        build: ({ u, ids: i }) => IR.scatterAdd(i, u, rows),
      }
    }),
  oneHot: fc.tuple(dims, fc.integer({ min: 1, max: 4 }), seed).map(([s, depth, k]): Case => {
    const r = rng(k)
    const idx = Tensor.i32(
      s,
      Array.from({ length: Tensor.size(s) }, () => (r() < 0.2 ? -100 : Math.floor(r() * depth))),
    )
    return {
      wrt: { x: randomTensor([...s, depth], k) },
      fixed: { ids: idx },
      build: ({ x, ids }) => IR.mul(x, IR.oneHot(ids, depth)),
    }
  }),
  // values stay inside (0.1, 0.9) so truncation to i32 never jumps under the finite difference
  cast: unary(
    (x) => IR.add(IR.cast(x, "f32"), IR.cast(IR.cast(x, "i32"), "f32")),
    (s, k) => randomTensor(s, k, 0.1, 0.9),
  ),
}
