/**
 * Shape inference of the IR: the shape and dtype every op gives its inputs, or the reason it cannot
 * (which `IR.make` turns into a `ShapeError` carried on the node).
 */
import { Result } from "effect"
import type { IRType, Node, Op } from "./op.ts"
import type { Shape } from "./tensor.ts"
import { sameShape, showShape, size } from "./tensor.ts"

export interface Inferred {
  readonly shape: Shape
  readonly dtype: IRType
}

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

/** The shape and dtype of a node of `op` over `xs`, or why there is none. */
export const infer = (op: Op, xs: readonly Node[]): Result.Result<Inferred, string> => {
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
    case "gelu":
    case "geluDeriv":
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
    default:
      return inferLayout(op, xs)
  }
}

/** Layout and indexing ops: reshape, transpose, slice, pad, concat, broadcast, gather, scatter-add, one-hot, cast. */
const inferLayout = (op: Op, xs: readonly Node[]): Result.Result<Inferred, string> => {
  const ok = (shape: Shape, dtype: IRType = "f32") => Result.succeed({ shape, dtype })
  const bad = (m: string) => Result.fail(m)
  const needF32 = (...ns: Node[]) => ns.every((n) => n.dtype === "f32")
  switch (op.kind) {
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
    default:
      return bad(`no shape rule for ${op.kind}`)
  }
}
