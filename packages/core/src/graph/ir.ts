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
import type { HostTensor, Shape } from "./tensor.ts"
import { sameShape, showShape, size } from "./tensor.ts"

export type IRType = "f32" | "i32"

export type UnaryKind = "neg" | "exp" | "log" | "tanh" | "sqrt" | "rsqrt" | "recip" | "relu"
export type BinaryKind = "add" | "sub" | "mul" | "div" | "gt" | "eq"

export type Op =
  | { readonly kind: "input"; readonly name: string }
  | { readonly kind: "constant"; readonly value: HostTensor<"f32" | "i32"> }
  | { readonly kind: "fill"; readonly value: number }
  | { readonly kind: UnaryKind }
  | { readonly kind: BinaryKind }
  | { readonly kind: "where" }
  | { readonly kind: "matmul" }
  | { readonly kind: "sum"; readonly axes: readonly number[]; readonly keepDims: boolean }
  | { readonly kind: "max"; readonly axes: readonly number[]; readonly keepDims: boolean }
  | { readonly kind: "softmax"; readonly axis: number }
  | { readonly kind: "logSoftmax"; readonly axis: number }
  | { readonly kind: "reshape"; readonly shape: Shape }
  | { readonly kind: "transpose"; readonly perm: readonly number[] }
  | { readonly kind: "slice"; readonly starts: readonly number[]; readonly ends: readonly number[] }
  | { readonly kind: "pad"; readonly before: readonly number[]; readonly after: readonly number[] }
  | { readonly kind: "concat"; readonly axis: number }
  | { readonly kind: "broadcast"; readonly shape: Shape }
  | { readonly kind: "gather" }
  | { readonly kind: "scatterAdd"; readonly rows: number }
  | { readonly kind: "oneHot"; readonly depth: number }
  | { readonly kind: "cast"; readonly to: IRType }

export type OpKind = Op["kind"]
export type OpOf<K extends OpKind> = Extract<Op, { readonly kind: K }>

export interface Node {
  readonly op: Op
  readonly inputs: readonly Node[]
  readonly shape: Shape
  readonly dtype: IRType
  /** Set when shape inference failed here or in an input. */
  readonly error?: ShapeError
}

/** A node whose op is known to be of kind K. */
export type NodeOf<K extends OpKind> = Node & { readonly op: OpOf<K> }

export const UNARY: readonly UnaryKind[] = ["neg", "exp", "log", "tanh", "sqrt", "rsqrt", "recip", "relu"]
export const BINARY: readonly BinaryKind[] = ["add", "sub", "mul", "div", "gt", "eq"]

type Inferred = { shape: Shape; dtype: IRType }

/** Numpy-style broadcast of two shapes, aligned at the trailing axis. */
export const broadcastShapes = (a: Shape, b: Shape): Shape | undefined => {
  const n = Math.max(a.length, b.length)
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1
    const y = b[b.length - n + i] ?? 1
    if (x !== y && x !== 1 && y !== 1) return undefined
    out.push(x === 1 ? y : x)
  }
  return out
}

const normAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis)

const infer = (op: Op, xs: readonly Node[]): Result.Result<Inferred, string> => {
  const ok = (shape: Shape, dtype: IRType = "f32") => Result.succeed({ shape, dtype })
  const bad = (m: string) => Result.fail(m)
  const needF32 = (...ns: Node[]) => ns.every((n) => n.dtype === "f32")
  switch (op.kind) {
    case "input":
    case "fill":
      return bad("leaf shapes are given, not inferred")
    case "constant":
      return ok(op.value.shape, op.value.dtype)
    case "neg":
    case "exp":
    case "log":
    case "tanh":
    case "sqrt":
    case "rsqrt":
    case "recip":
    case "relu":
      return needF32(xs[0]) ? ok(xs[0].shape) : bad("expects an f32 input")
    case "add":
    case "sub":
    case "mul":
    case "div":
    case "gt":
    case "eq": {
      if (!needF32(xs[0], xs[1])) return bad("expects f32 inputs")
      const s = broadcastShapes(xs[0].shape, xs[1].shape)
      return s ? ok(s) : bad(`cannot broadcast ${showShape(xs[0].shape)} with ${showShape(xs[1].shape)}`)
    }
    case "where": {
      if (!needF32(...xs)) return bad("expects f32 inputs (the condition is a 0/1 mask)")
      const s1 = broadcastShapes(xs[0].shape, xs[1].shape)
      const s = s1 && broadcastShapes(s1, xs[2].shape)
      return s ? ok(s) : bad(`cannot broadcast ${xs.map((x) => showShape(x.shape)).join(", ")}`)
    }
    case "matmul": {
      const [a, b] = xs
      if (!needF32(a, b)) return bad("expects f32 inputs")
      if (a.shape.length < 2 || b.shape.length < 2) return bad("expects rank >= 2 inputs")
      const [m, k] = a.shape.slice(-2)
      const [k2, n] = b.shape.slice(-2)
      if (k !== k2) return bad(`inner dimensions differ: ${showShape(a.shape)} @ ${showShape(b.shape)}`)
      const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2))
      return batch
        ? ok([...batch, m, n])
        : bad(`batch dimensions do not broadcast: ${showShape(a.shape)} @ ${showShape(b.shape)}`)
    }
    case "sum":
    case "max": {
      const r = xs[0].shape.length
      if (!needF32(xs[0])) return bad("expects an f32 input")
      if (op.axes.some((a) => a < 0 || a >= r) || new Set(op.axes).size !== op.axes.length) {
        return bad(`axes [${op.axes}] invalid for rank ${r}`)
      }
      const shape = op.keepDims
        ? xs[0].shape.map((d, i) => (op.axes.includes(i) ? 1 : d))
        : xs[0].shape.filter((_, i) => !op.axes.includes(i))
      return ok(shape)
    }
    case "softmax":
    case "logSoftmax":
      if (!needF32(xs[0])) return bad("expects an f32 input")
      return op.axis >= 0 && op.axis < xs[0].shape.length ? ok(xs[0].shape) : bad(`axis ${op.axis} out of range`)
    case "reshape":
      if (op.shape.some((d) => !Number.isInteger(d) || d < 0)) return bad(`invalid target shape ${showShape(op.shape)}`)
      return size(op.shape) === size(xs[0].shape)
        ? ok(op.shape, xs[0].dtype)
        : bad(`cannot reshape ${showShape(xs[0].shape)} to ${showShape(op.shape)}`)
    case "transpose": {
      const r = xs[0].shape.length
      const valid = op.perm.length === r && [...op.perm].sort((a, b) => a - b).every((p, i) => p === i)
      return valid
        ? ok(
            op.perm.map((p) => xs[0].shape[p]),
            xs[0].dtype,
          )
        : bad(`perm [${op.perm}] invalid for rank ${r}`)
    }
    case "slice": {
      const s = xs[0].shape
      if (op.starts.length !== s.length || op.ends.length !== s.length) return bad("starts/ends must have one entry per axis")
      for (let i = 0; i < s.length; i++) {
        if (op.starts[i] < 0 || op.ends[i] > s[i] || op.starts[i] > op.ends[i]) {
          return bad(`range [${op.starts[i]}, ${op.ends[i]}) invalid for axis ${i} of ${showShape(s)}`)
        }
      }
      return ok(
        s.map((_, i) => op.ends[i] - op.starts[i]),
        xs[0].dtype,
      )
    }
    case "pad": {
      const s = xs[0].shape
      if (op.before.length !== s.length || op.after.length !== s.length) return bad("before/after must have one entry per axis")
      if ([...op.before, ...op.after].some((p) => p < 0)) return bad("padding must be non-negative")
      if (!needF32(xs[0])) return bad("expects an f32 input")
      return ok(s.map((d, i) => d + op.before[i] + op.after[i]))
    }
    case "concat": {
      if (xs.length === 0) return bad("needs at least one input")
      const r = xs[0].shape.length
      if (op.axis < 0 || op.axis >= r) return bad(`axis ${op.axis} out of range`)
      for (const x of xs) {
        if (x.dtype !== xs[0].dtype) return bad("inputs must share a dtype")
        if (x.shape.length !== r || x.shape.some((d, i) => i !== op.axis && d !== xs[0].shape[i])) {
          return bad(`shapes ${xs.map((y) => showShape(y.shape)).join(", ")} differ off axis ${op.axis}`)
        }
      }
      const shape = [...xs[0].shape]
      shape[op.axis] = xs.reduce((a, x) => a + x.shape[op.axis], 0)
      return ok(shape, xs[0].dtype)
    }
    case "broadcast": {
      const s = broadcastShapes(xs[0].shape, op.shape)
      return s && sameShape(s, op.shape)
        ? ok(op.shape, xs[0].dtype)
        : bad(`cannot broadcast ${showShape(xs[0].shape)} to ${showShape(op.shape)}`)
    }
    case "gather": {
      const [table, ids] = xs
      if (ids.dtype !== "i32") return bad("ids must be i32")
      if (table.shape.length < 1) return bad("table must have rank >= 1")
      return ok([...ids.shape, ...table.shape.slice(1)], table.dtype)
    }
    case "scatterAdd": {
      const [ids, upd] = xs
      if (ids.dtype !== "i32" || upd.dtype !== "f32") return bad("expects i32 ids and f32 updates")
      if (!sameShape(upd.shape.slice(0, ids.shape.length), ids.shape)) {
        return bad(`updates ${showShape(upd.shape)} do not start with ids ${showShape(ids.shape)}`)
      }
      return ok([op.rows, ...upd.shape.slice(ids.shape.length)])
    }
    case "oneHot":
      return xs[0].dtype === "i32" ? ok([...xs[0].shape, op.depth]) : bad("ids must be i32")
    case "cast":
      return ok(xs[0].shape, op.to)
  }
}

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
