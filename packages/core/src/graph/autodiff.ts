/**
 * Reverse-mode autodiff as a graph transformation: `grad` returns new nodes in the same IR, so any
 * backend runs backward passes without knowing about autodiff.
 *
 * One exhaustive table maps every op to its vector-Jacobian product; a new op without a rule is a
 * type error. Rules return each input's gradient in the op's *output* shape where the op broadcasts;
 * the driver undoes broadcasting once (`sumTo`). Only nodes on a path from a `wrt` node to the
 * output are visited, so prompt tuning never builds, say, the vocab × d embedding gradient.
 */
import { Result } from "effect"
import type { ShapeError } from "./errors.ts"
import type { Node, NodeOf, OpKind } from "./ir.ts"
import * as ir from "./ir.ts"
import type { Shape } from "./tensor.ts"
import { sameShape } from "./tensor.ts"

/** `g` is d(output)/d(node) with node's shape; returns one entry per input (undefined: no gradient). */
type Rule<K extends OpKind> = (node: NodeOf<K>, g: Node) => ReadonlyArray<Node | undefined>

const none = () => []
const invPerm = (perm: readonly number[]) => {
  const inv = new Array<number>(perm.length)
  perm.forEach((p, i) => {
    inv[p] = i
  })
  return inv
}
/** Re-inserts reduced axes as size 1 so a reduced tensor broadcasts against the input. */
const keep = (g: Node, inShape: Shape, axes: readonly number[], keepDims: boolean) =>
  keepDims
    ? g
    : ir.reshape(
        g,
        inShape.map((d, i) => (axes.includes(i) ? 1 : d)),
      )

/**
 * d² gelu / dx² of the tanh approximation, in primitive ops (only a second derivative reaches it):
 * with u = c (x + a x³) and t = tanh u, (1 − t²) (u′ + x (u″ − 2 t u′²) / 2).
 */
const geluSecond = (x: Node): Node => {
  const x2 = ir.mul(x, x)
  const t = ir.tanh(ir.mul(ir.add(x, ir.mul(ir.mul(x2, x), ir.GELU_A)), ir.GELU_C))
  const du = ir.mul(ir.add(ir.mul(x2, 3 * ir.GELU_A), 1), ir.GELU_C)
  const ddu = ir.mul(x, 6 * ir.GELU_A * ir.GELU_C)
  const curvature = ir.sub(ddu, ir.mul(ir.mul(t, 2), ir.mul(du, du)))
  return ir.mul(ir.sub(ir.scalar(1), ir.mul(t, t)), ir.add(du, ir.mul(ir.mul(x, 0.5), curvature)))
}

export const VJP: { readonly [K in OpKind]: Rule<K> } = {
  input: none,
  constant: none,
  fill: none,
  neg: (_, g) => [ir.neg(g)],
  exp: (y, g) => [ir.mul(g, y)],
  log: (y, g) => [ir.div(g, y.inputs[0])],
  tanh: (y, g) => [ir.mul(g, ir.sub(ir.scalar(1), ir.mul(y, y)))],
  sqrt: (y, g) => [ir.div(ir.mul(g, 0.5), y)],
  rsqrt: (y, g) => [ir.mul(ir.mul(g, -0.5), ir.mul(y, ir.mul(y, y)))],
  recip: (y, g) => [ir.neg(ir.mul(g, ir.mul(y, y)))],
  relu: (y, g) => [ir.mul(g, ir.gt(y.inputs[0], ir.scalar(0)))],
  gelu: (y, g) => [ir.mul(g, ir.geluDeriv(y.inputs[0]))],
  geluDeriv: (y, g) => [ir.mul(g, geluSecond(y.inputs[0]))],
  add: (_, g) => [g, g],
  sub: (_, g) => [g, ir.neg(g)],
  mul: ({ inputs: [a, b] }, g) => [ir.mul(g, b), ir.mul(g, a)],
  div: ({ inputs: [a, b] }, g) => [ir.div(g, b), ir.neg(ir.div(ir.mul(g, a), ir.mul(b, b)))],
  gt: () => [undefined, undefined],
  eq: () => [undefined, undefined],
  where: ({ inputs: [c] }, g) => [undefined, ir.where(c, g, ir.scalar(0)), ir.where(c, ir.scalar(0), g)],
  matmul: ({ inputs: [a, b] }, g) => [ir.matmul(g, ir.mT(b)), ir.matmul(ir.mT(a), g)],
  sum: ({ op, inputs: [x] }, g) => [ir.broadcast(keep(g, x.shape, op.axes, op.keepDims), x.shape)],
  max: (y, g) => {
    const x = y.inputs[0]
    const m = keep(y, x.shape, y.op.axes, y.op.keepDims)
    return [ir.mul(ir.eq(x, m), keep(g, x.shape, y.op.axes, y.op.keepDims))]
  },
  softmax: (y, g) => [ir.mul(y, ir.sub(g, ir.sum(ir.mul(g, y), y.op.axis, true)))],
  logSoftmax: (y, g) => [ir.sub(g, ir.mul(ir.exp(y), ir.sum(g, y.op.axis, true)))],
  reshape: ({ inputs: [x] }, g) => [ir.reshape(g, x.shape)],
  transpose: ({ op }, g) => [ir.transpose(g, invPerm(op.perm))],
  slice: ({ op, inputs: [x] }, g) => [
    ir.pad(
      g,
      op.starts,
      x.shape.map((d, i) => d - op.ends[i]),
    ),
  ],
  pad: ({ op, inputs: [x] }, g) => [
    ir.slice(
      g,
      op.before,
      x.shape.map((d, i) => op.before[i] + d),
    ),
  ],
  concat: ({ op, inputs }, g) => {
    let at = 0
    return inputs.map((x) => {
      const part = ir.sliceAxis(g, op.axis, at, at + x.shape[op.axis])
      at += x.shape[op.axis]
      return part
    })
  },
  broadcast: (_, g) => [g],
  gather: ({ inputs: [table, ids] }, g) => [ir.scatterAdd(ids, g, table.shape[0]), undefined],
  scatterAdd: ({ inputs: [ids] }, g) => [undefined, ir.gather(g, ids)],
  oneHot: () => [undefined],
  cast: ({ op, inputs: [x] }, g) => [op.to === "f32" && x.dtype === "f32" ? g : undefined],
}

/** Sums `g` down to `shape`, undoing numpy broadcasting. */
export const sumTo = (g: Node, shape: Shape): Node => {
  if (sameShape(g.shape, shape)) return g
  const lead = g.shape.length - shape.length
  const axes: number[] = []
  for (let i = 0; i < g.shape.length; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i)
  }
  const summed = axes.length > 0 ? ir.sum(g, axes, false) : g
  return ir.reshape(summed, shape)
}

const isFloat = (n: Node) => n.dtype === "f32"

/**
 * Gradients of the scalar `output` with respect to each node of `wrt` (which must be f32).
 * A `wrt` node the output does not depend on gets a zero gradient.
 */
export const grad = (output: Node, wrt: readonly Node[]): Result.Result<Node[], ShapeError> => {
  const nodes = ir.checkGraph({ outputs: { output, ...Object.fromEntries(wrt.map((w, i) => [`wrt${i}`, w])) } })
  if (Result.isFailure(nodes)) return nodes
  const targets = new Set(wrt)
  // nodes that depend on some wrt node
  const live = new Set<Node>()
  for (const n of ir.topo([output])) {
    if (targets.has(n) || n.inputs.some((x) => live.has(x))) live.add(n)
  }
  const grads = new Map<Node, Node>()
  if (live.has(output)) grads.set(output, ir.fill(1, output.shape))
  const order = ir.topo([output]).filter((n) => live.has(n))
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i]
    const g = grads.get(n)
    if (g === undefined || n.inputs.length === 0) continue
    const rule = VJP[n.op.kind] as Rule<OpKind>
    const parts = rule(n as never, g)
    n.inputs.forEach((x, j) => {
      const p = parts[j]
      if (p === undefined || !live.has(x) || !isFloat(x)) return
      const gx = sumTo(p, x.shape)
      const prev = grads.get(x)
      grads.set(x, prev === undefined ? gx : ir.add(prev, gx))
    })
  }
  const out = wrt.map((w) => grads.get(w) ?? ir.fill(0, w.shape))
  const checked = ir.checkGraph({ outputs: Object.fromEntries(out.map((g, i) => [`g${i}`, g])) })
  return Result.map(checked, () => out)
}
