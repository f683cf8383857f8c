/**
 * The tensor-graph IR: immutable, structurally shared nodes `{op, inputs, shape, dtype}` and one op
 * union. Graphs are built with the pure constructors below; shape inference runs as each node is
 * made. A node whose shape cannot be inferred carries the `ShapeError` (and so does every node built
 * on it), and `checkGraph` reports the first one, so graph construction never throws.
 *
 * Weights are `input` nodes too: a backend binds them once when it compiles a graph (so they can
 * stay on the device) and the per-call values (prompt, ids, masks) are fed on every run.
 */
import { Result } from "effect"
import { ShapeError } from "./errors.ts"
import { infer } from "./infer.ts"
import type { BinaryKind, IRType, Node, NodeOf, Op, OpKind, UnaryKind } from "./op.ts"
import type { HostTensor, Shape } from "./tensor.ts"
import { sameShape, size } from "./tensor.ts"

export { broadcastShapes } from "./infer.ts"
export type { BinaryKind, IRType, Node, NodeOf, Op, OpKind, OpOf, UnaryKind } from "./op.ts"
export { BINARY, GELU_A, GELU_C, UNARY } from "./op.ts"

const normAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis)

const ARITY: Partial<Record<OpKind, number>> = {
  where: 3,
  matmul: 2,
  gather: 2,
  scatterAdd: 2,
  add: 2,
  sub: 2,
  mul: 2,
  div: 2,
  gt: 2,
  eq: 2,
}

/** Makes a node, inferring its shape; errors are carried, never thrown. */
export const make = (op: Op, inputs: readonly Node[]): Node => {
  const inherited = inputs.find((x) => x.error !== undefined)?.error
  if (inherited) return { op, inputs, shape: [], dtype: "f32", error: inherited }
  const arity = ARITY[op.kind] ?? (op.kind === "concat" ? inputs.length : op.kind === "constant" ? 0 : 1)
  const r = inputs.length === arity ? infer(op, inputs) : Result.fail(`expects ${arity} inputs, got ${inputs.length}`)
  return Result.isSuccess(r)
    ? { op, inputs, shape: r.success.shape, dtype: r.success.dtype }
    : {
        op,
        inputs,
        shape: [],
        dtype: "f32",
        error: new ShapeError({ op: op.kind, message: `${op.kind}: ${r.failure}` }),
      }
}

// ---- constructors ----

export const input = (name: string, shape: Shape, dtype: IRType = "f32"): NodeOf<"input"> => ({
  op: { kind: "input", name },
  inputs: [],
  shape: [...shape],
  dtype,
})
export const constant = (value: HostTensor<"f32" | "i32">): Node => make({ kind: "constant", value }, [])
export const fill = (value: number, shape: Shape = []): Node => ({
  op: { kind: "fill", value },
  inputs: [],
  shape: [...shape],
  dtype: "f32",
})
export const scalar = (value: number) => fill(value, [])

const un =
  <K extends UnaryKind>(kind: K) =>
  (x: Node) =>
    make({ kind } as Op, [x])
export const neg = un("neg")
export const exp = un("exp")
export const log = un("log")
export const tanh = un("tanh")
export const sqrt = un("sqrt")
export const rsqrt = un("rsqrt")
export const recip = un("recip")
export const relu = un("relu")
/** GELU, tanh approximation (`gelu_new`). */
export const gelu = un("gelu")
/** d gelu / dx of the tanh approximation. */
export const geluDeriv = un("geluDeriv")

const bin =
  <K extends BinaryKind>(kind: K) =>
  (a: Node, b: Node | number) =>
    make({ kind } as Op, [a, typeof b === "number" ? scalar(b) : b])
export const add = bin("add")
export const sub = bin("sub")
export const mul = bin("mul")
export const div = bin("div")
export const gt = bin("gt")
export const eq = bin("eq")

export const where = (cond: Node, a: Node, b: Node) => make({ kind: "where" }, [cond, a, b])
export const matmul = (a: Node, b: Node) => make({ kind: "matmul" }, [a, b])

const axesOf = (x: Node, axes: number | readonly number[] | undefined) =>
  (axes === undefined ? x.shape.map((_, i) => i) : typeof axes === "number" ? [axes] : axes).map((a) =>
    normAxis(a, x.shape.length),
  )
export const sum = (x: Node, axes?: number | readonly number[], keepDims = false) =>
  make({ kind: "sum", axes: axesOf(x, axes), keepDims }, [x])
export const max = (x: Node, axes?: number | readonly number[], keepDims = false) =>
  make({ kind: "max", axes: axesOf(x, axes), keepDims }, [x])
export const mean = (x: Node, axes?: number | readonly number[], keepDims = false) => {
  const ax = axesOf(x, axes)
  const n = ax.reduce((a, i) => a * (x.shape[i] ?? 1), 1)
  return mul(sum(x, ax, keepDims), 1 / n)
}
export const softmax = (x: Node, axis = -1) => make({ kind: "softmax", axis: normAxis(axis, x.shape.length) }, [x])
export const logSoftmax = (x: Node, axis = -1) => make({ kind: "logSoftmax", axis: normAxis(axis, x.shape.length) }, [x])

export const reshape = (x: Node, shape: Shape) => make({ kind: "reshape", shape: [...shape] }, [x])
export const transpose = (x: Node, perm: readonly number[]) => make({ kind: "transpose", perm: [...perm] }, [x])
/** Swaps the last two axes. */
export const mT = (x: Node) => {
  const r = x.shape.length
  const perm = x.shape.map((_, i) => i)
  perm[r - 2] = r - 1
  perm[r - 1] = r - 2
  return transpose(x, perm)
}
export const slice = (x: Node, starts: readonly number[], ends: readonly number[]) =>
  make({ kind: "slice", starts: [...starts], ends: [...ends] }, [x])
/** Slice of one axis. */
export const sliceAxis = (x: Node, axis: number, start: number, end: number) => {
  const a = normAxis(axis, x.shape.length)
  return slice(
    x,
    x.shape.map((_, i) => (i === a ? start : 0)),
    x.shape.map((d, i) => (i === a ? end : d)),
  )
}
export const pad = (x: Node, before: readonly number[], after: readonly number[]) =>
  make({ kind: "pad", before: [...before], after: [...after] }, [x])
export const concat = (xs: readonly Node[], axis: number) =>
  make({ kind: "concat", axis: normAxis(axis, xs[0]?.shape.length ?? 1) }, xs)
export const broadcast = (x: Node, shape: Shape) => make({ kind: "broadcast", shape: [...shape] }, [x])
export const gather = (table: Node, ids: Node) => make({ kind: "gather" }, [table, ids])
export const scatterAdd = (ids: Node, updates: Node, rows: number) => make({ kind: "scatterAdd", rows }, [ids, updates])
export const oneHot = (ids: Node, depth: number) => make({ kind: "oneHot", depth }, [ids])
export const cast = (x: Node, to: IRType) => make({ kind: "cast", to }, [x])

// ---- graphs ----

/** Nodes reachable from `outputs`, inputs before users (iterative, so deep graphs do not overflow). */
export const topo = (outputs: readonly Node[]): Node[] => {
  const order: Node[] = []
  const state = new Map<Node, 1 | 2>()
  const stack: Array<[Node, number]> = []
  for (const out of outputs) {
    if (state.has(out)) continue
    stack.push([out, 0])
    state.set(out, 1)
    while (stack.length > 0) {
      const top = stack[stack.length - 1]
      const [n, i] = top
      if (i < n.inputs.length) {
        top[1] = i + 1
        const c = n.inputs[i]
        if (!state.has(c)) {
          state.set(c, 1)
          stack.push([c, 0])
        }
      } else {
        stack.pop()
        state.set(n, 2)
        order.push(n)
      }
    }
  }
  return order
}

/** A graph: named outputs over shared nodes. */
export interface Graph {
  readonly outputs: Readonly<Record<string, Node>>
}

/** Checks that no node carries a shape error and that input names are unique per shape and dtype. */
export const checkGraph = (graph: Graph): Result.Result<Node[], ShapeError> => {
  const nodes = topo(Object.values(graph.outputs))
  const seen = new Map<string, Node>()
  for (const n of nodes) {
    if (n.error) return Result.fail(n.error)
    if (n.op.kind === "input") {
      const prev = seen.get(n.op.name)
      if (prev && (!sameShape(prev.shape, n.shape) || prev.dtype !== n.dtype)) {
        return Result.fail(
          new ShapeError({ op: "input", message: `input "${n.op.name}" is declared twice with different shapes` }),
        )
      }
      seen.set(n.op.name, n)
    }
  }
  return Result.succeed(nodes)
}

/** The distinct `input` nodes of a graph, by name. */
export const graphInputs = (graph: Graph): Map<string, NodeOf<"input">> => {
  const out = new Map<string, NodeOf<"input">>()
  for (const n of topo(Object.values(graph.outputs))) {
    if (n.op.kind === "input") out.set(n.op.name, n as NodeOf<"input">)
  }
  return out
}

/** FLOPs of the matrix products in a graph (2·m·k·n per product, batch included). */
export const matmulFlops = (outputs: readonly Node[]): number => {
  let total = 0
  for (const n of topo(outputs)) {
    if (n.op.kind !== "matmul") continue
    const k = n.inputs[0].shape[n.inputs[0].shape.length - 1]
    total += 2 * size(n.shape) * k
  }
  return total
}
