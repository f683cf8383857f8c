/**
 * The reference interpreter: plain TypeScript loops over host arrays, written to be obviously
 * correct rather than fast. Every other backend is tested against it. Sums accumulate in f64.
 */
import { Result } from "effect"
import { BackendError } from "./errors.ts"
import type { Graph, Node } from "./ir.ts"
import * as ir from "./ir.ts"
import type { HostTensor, Shape } from "./tensor.ts"
import { showShape, size, strides } from "./tensor.ts"

type Arr = Float32Array | Int32Array

/** For each flat index of `out`, the flat index of the (broadcast) `inShape` element it reads. */
const broadcastIndex = (out: Shape, inShape: Shape): Int32Array => {
  const lead = out.length - inShape.length
  const inStr = strides(inShape)
  return broadcastLike(
    out,
    out.map((_, i) => (i < lead || inShape[i - lead] === 1 ? 0 : inStr[i - lead])),
  )
}

/** For each flat index of `shape`, the flat index in the same tensor permuted by `perm` (output view). */
const transposeIndex = (shape: Shape, perm: readonly number[]): Int32Array => {
  const outShape = perm.map((p) => shape[p])
  const inStr = strides(shape)
  return broadcastLike(
    outShape,
    perm.map((p) => inStr[p]),
  )
}

/** Flat offsets for iterating `out` with arbitrary per-axis input strides. */
const broadcastLike = (out: Shape, eff: readonly number[], base = 0): Int32Array => {
  const n = size(out)
  const map = new Int32Array(n)
  const idx = new Array<number>(out.length).fill(0)
  let off = base
  for (let f = 0; f < n; f++) {
    map[f] = off
    for (let a = out.length - 1; a >= 0; a--) {
      idx[a]++
      off += eff[a]
      if (idx[a] < out[a]) break
      off -= eff[a] * out[a]
      idx[a] = 0
    }
  }
  return map
}

const unary: Record<ir.UnaryKind, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  tanh: Math.tanh,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  recip: (x) => 1 / x,
  relu: (x) => Math.max(x, 0),
  gelu: (x) => 0.5 * x * (1 + Math.tanh(ir.GELU_C * (x + ir.GELU_A * x * x * x))),
  geluDeriv: (x) => {
    const t = Math.tanh(ir.GELU_C * (x + ir.GELU_A * x * x * x))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * ir.GELU_C * (1 + 3 * ir.GELU_A * x * x)
  },
}
const binary: Record<ir.BinaryKind, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  gt: (a, b) => (a > b ? 1 : 0),
  eq: (a, b) => (a === b ? 1 : 0),
}

const alloc = (n: Node): Arr => (n.dtype === "i32" ? new Int32Array(size(n.shape)) : new Float32Array(size(n.shape)))

/** outer × axis × inner decomposition used by softmax. */
const around = (shape: Shape, axis: number) => ({
  outer: size(shape.slice(0, axis)),
  len: shape[axis],
  inner: size(shape.slice(axis + 1)),
})

/** Layout and indexing ops: reshape, transpose, slice, pad, concat, broadcast, gather, scatter-add, one-hot, cast. */
const evalLayout = (n: Node, xs: readonly Arr[], out: Arr): Result.Result<Arr, string> => {
  const op = n.op
  switch (op.kind) {
    case "reshape":
      return Result.succeed(xs[0])
    case "transpose": {
      const map = transposeIndex(n.inputs[0].shape, op.perm)
      for (let i = 0; i < out.length; i++) out[i] = xs[0][map[i]]
      return Result.succeed(out)
    }
    case "slice": {
      const inStr = strides(n.inputs[0].shape)
      const base = op.starts.reduce((a, s, i) => a + s * inStr[i], 0)
      const map = broadcastLike(n.shape, inStr, base)
      for (let i = 0; i < out.length; i++) out[i] = xs[0][map[i]]
      return Result.succeed(out)
    }
    case "pad": {
      const oStr = strides(n.shape)
      const base = op.before.reduce((a, s, i) => a + s * oStr[i], 0)
      const map = broadcastLike(n.inputs[0].shape, oStr, base)
      for (let i = 0; i < map.length; i++) out[map[i]] = xs[0][i]
      return Result.succeed(out)
    }
    case "concat": {
      const outer = size(n.shape.slice(0, op.axis))
      const rowOut = size(n.shape.slice(op.axis))
      let at = 0
      n.inputs.forEach((x, j) => {
        const row = size(x.shape.slice(op.axis))
        for (let o = 0; o < outer; o++) out.set(xs[j].subarray(o * row, (o + 1) * row), o * rowOut + at)
        at += row
      })
      return Result.succeed(out)
    }
    case "broadcast": {
      const map = broadcastIndex(n.shape, n.inputs[0].shape)
      for (let i = 0; i < out.length; i++) out[i] = xs[0][map[i]]
      return Result.succeed(out)
    }
    case "gather": {
      const [table, ids] = xs
      const rows = n.inputs[0].shape[0]
      const row = size(n.inputs[0].shape.slice(1))
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]
        if (id < 0 || id >= rows) return Result.fail(`id ${id} at index ${i} is outside [0, ${rows})`)
        out.set(table.subarray(id * row, (id + 1) * row), i * row)
      }
      return Result.succeed(out)
    }
    case "scatterAdd": {
      const [ids, upd] = xs
      const row = size(n.shape.slice(1))
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]
        if (id < 0 || id >= op.rows) return Result.fail(`id ${id} at index ${i} is outside [0, ${op.rows})`)
        for (let j = 0; j < row; j++) out[id * row + j] += upd[i * row + j]
      }
      return Result.succeed(out)
    }
    case "oneHot": {
      const ids = xs[0]
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]
        if (id >= 0 && id < op.depth) out[i * op.depth + id] = 1
      }
      return Result.succeed(out)
    }
    case "cast": {
      const x = xs[0]
      for (let i = 0; i < out.length; i++) out[i] = op.to === "i32" ? Math.trunc(x[i]) : x[i]
      return Result.succeed(out)
    }
    default:
      return Result.fail(`no evaluation rule for ${op.kind}`)
  }
}

const evalNode = (n: Node, xs: readonly Arr[]): Result.Result<Arr, string> => {
  const out = alloc(n)
  const op = n.op
  switch (op.kind) {
    case "input":
      return Result.fail("unbound input")
    case "constant":
      return Result.succeed(op.value.data)
    case "fill":
      out.fill(op.value)
      return Result.succeed(out)
    case "neg":
    case "exp":
    case "log":
    case "tanh":
    case "sqrt":
    case "rsqrt":
    case "recip":
    case "relu":
    case "gelu":
    case "geluDeriv": {
      const f = unary[op.kind]
      const x = xs[0]
      for (let i = 0; i < out.length; i++) out[i] = f(x[i])
      return Result.succeed(out)
    }
    case "add":
    case "sub":
    case "mul":
    case "div":
    case "gt":
    case "eq": {
      const f = binary[op.kind]
      const ia = broadcastIndex(n.shape, n.inputs[0].shape)
      const ib = broadcastIndex(n.shape, n.inputs[1].shape)
      const [a, b] = xs
      for (let i = 0; i < out.length; i++) out[i] = f(a[ia[i]], b[ib[i]])
      return Result.succeed(out)
    }
    case "where": {
      const [ic, ia, ib] = n.inputs.map((x) => broadcastIndex(n.shape, x.shape))
      const [c, a, b] = xs
      for (let i = 0; i < out.length; i++) out[i] = c[ic[i]] !== 0 ? a[ia[i]] : b[ib[i]]
      return Result.succeed(out)
    }
    case "matmul": {
      const [A, B] = n.inputs
      const [m, k] = A.shape.slice(-2)
      const nn = B.shape[B.shape.length - 1]
      const batch = n.shape.slice(0, -2)
      const ia = broadcastIndex(batch, A.shape.slice(0, -2))
      const ib = broadcastIndex(batch, B.shape.slice(0, -2))
      const [a, b] = xs
      const acc = new Float64Array(nn)
      for (let t = 0; t < size(batch); t++) {
        const ao = ia[t] * m * k
        const bo = ib[t] * k * nn
        const oo = t * m * nn
        for (let i = 0; i < m; i++) {
          acc.fill(0)
          for (let p = 0; p < k; p++) {
            const av = a[ao + i * k + p]
            if (av === 0) continue
            const row = bo + p * nn
            for (let j = 0; j < nn; j++) acc[j] += av * b[row + j]
          }
          for (let j = 0; j < nn; j++) out[oo + i * nn + j] = acc[j]
        }
      }
      return Result.succeed(out)
    }
    case "sum":
    case "max": {
      const x = n.inputs[0]
      const kept = x.shape.map((d, i) => (op.axes.includes(i) ? 1 : d))
      const kStr = strides(kept)
      const eff = x.shape.map((_, i) => (op.axes.includes(i) ? 0 : kStr[i]))
      const map = broadcastLike(x.shape, eff)
      const acc = new Float64Array(out.length).fill(op.kind === "sum" ? 0 : Number.NEGATIVE_INFINITY)
      const src = xs[0]
      if (op.kind === "sum") for (let i = 0; i < src.length; i++) acc[map[i]] += src[i]
      else for (let i = 0; i < src.length; i++) if (src[i] > acc[map[i]] || Number.isNaN(src[i])) acc[map[i]] = src[i]
      out.set(acc)
      return Result.succeed(out)
    }
    case "softmax":
    case "logSoftmax": {
      const { outer, len, inner } = around(n.shape, op.axis)
      const x = xs[0]
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < inner; j++) {
          const base = o * len * inner + j
          let mx = Number.NEGATIVE_INFINITY
          for (let t = 0; t < len; t++) mx = Math.max(mx, x[base + t * inner])
          let s = 0
          for (let t = 0; t < len; t++) s += Math.exp(x[base + t * inner] - mx)
          const ls = Math.log(s)
          for (let t = 0; t < len; t++) {
            const z = x[base + t * inner] - mx
            out[base + t * inner] = op.kind === "softmax" ? Math.exp(z) / s : z - ls
          }
        }
      }
      return Result.succeed(out)
    }
    default:
      return evalLayout(n, xs, out)
  }
}

const toHost = (n: Node, a: Arr): HostTensor<"f32" | "i32"> =>
  n.dtype === "i32"
    ? { dtype: "i32", shape: n.shape, data: a as Int32Array }
    : { dtype: "f32", shape: n.shape, data: a as Float32Array }

/**
 * Evaluates a graph. `inputs` binds every `input` node by name (weights and feeds alike); integer
 * inputs may be i32 or i64.
 */
export const evaluate = (
  graph: Graph,
  inputs: ReadonlyMap<string, HostTensor> | Readonly<Record<string, HostTensor>>,
): Result.Result<Record<string, HostTensor<"f32" | "i32">>, BackendError> => {
  const fail = (op: string, message: string) => Result.fail(new BackendError({ backend: "reference", op, message }))
  const checked = ir.checkGraph(graph)
  if (Result.isFailure(checked)) return fail(checked.failure.op, checked.failure.message)
  const bound = inputs instanceof Map ? inputs : new Map(Object.entries(inputs))
  const values = new Map<Node, Arr>()
  for (const n of checked.success) {
    if (n.op.kind === "input") {
      const t = bound.get(n.op.name)
      if (t === undefined) return fail("input", `no value bound for input "${n.op.name}"`)
      if (
        size(t.shape) !== size(n.shape) ||
        t.shape.length !== n.shape.length ||
        t.shape.some((d: number, i: number) => d !== n.shape[i])
      ) {
        return fail("input", `input "${n.op.name}" expects ${showShape(n.shape)}, got ${showShape(t.shape)}`)
      }
      const isInt = t.dtype !== "f32"
      if (isInt !== (n.dtype === "i32")) return fail("input", `input "${n.op.name}" expects ${n.dtype}, got ${t.dtype}`)
      values.set(n, t.dtype === "i64" ? Int32Array.from(t.data as BigInt64Array, Number) : (t.data as Arr))
      continue
    }
    const r = evalNode(
      n,
      n.inputs.map((x) => values.get(x) as Arr),
    )
    if (Result.isFailure(r)) return fail(n.op.kind, r.failure)
    values.set(n, r.success)
  }
  const out: Record<string, HostTensor<"f32" | "i32">> = {}
  for (const [name, n] of Object.entries(graph.outputs)) out[name] = toHost(n, values.get(n) as Arr)
  return Result.succeed(out)
}
