/**
 * One emitter per IR op, in a table the compiler checks for exhaustiveness: an op without an
 * emitter is a type error. An emitter turns a node (with the views of its inputs) into the view of
 * its value — a free view for reshape/transpose/slice/broadcast/fill, a new temporary written by
 * dispatches for everything else — or `undefined` for an elementwise node deferred into its user.
 */
import type { IR } from "@spot/core/graph"
import { Tensor } from "@spot/core/graph"
import type { IndexedParams } from "../kernels/indexing.ts"
import { MAXR, WG } from "../kernels/kernel.ts"
import { MAX_BATCH_RANK } from "../kernels/matmul.ts"
import type { PlanBuilder } from "./builder.ts"
import type { Fusion } from "./fusion.ts"
import { GROUP_REDUCE_FROM, KERNELS, pickTile, type Tiles, tiledMatmul, WIDE_FROM } from "./kernels.ts"
import type { BufferRole, View } from "./types.ts"
import { broadcastStrides, collapse, contiguousView } from "./views.ts"

export interface EmitContext {
  readonly b: PlanBuilder
  readonly fusion: Fusion
  readonly tiles: Tiles
  /** Inputs bound at compile time (weights); the others are fed per run. */
  readonly bound: ReadonlySet<string>
}

/** The view of node `n`'s value, given the views `x` of its inputs; `undefined` when deferred into its user. */
export type Emitter<K extends IR.OpKind> = (ctx: EmitContext, n: IR.NodeOf<K>, x: readonly View[]) => View | undefined

const input: Emitter<"input"> = ({ b, bound }, n) => {
  const name = n.op.name
  const role: BufferRole = bound.has(name)
    ? { kind: "weight", name, shape: n.shape, dtype: n.dtype }
    : { kind: "feed", name, shape: n.shape, dtype: n.dtype }
  return contiguousView(n.shape, b.leaf(Tensor.size(n.shape), role, `${role.kind}:${name}`, "input"))
}

const constant: Emitter<"constant"> = ({ b }, n) => {
  const d = n.op.value.data
  const data = new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
  return contiguousView(n.shape, b.newBuffer(d.length, { kind: "constant", data }, "constant"))
}

/** One stored value read with zero strides. */
const fill: Emitter<"fill"> = ({ b }, n) => {
  const data = new Uint8Array(new Float32Array([n.op.value]).buffer)
  return { buf: b.newBuffer(1, { kind: "constant", data }, "fill"), shape: n.shape, strides: n.shape.map(() => 0), offset: 0 }
}

// the emitters shared by several ops are generic, so that each table entry instantiates its own kind

/** Deferred into its user's kernel when it can be (no view of its own), else a fused map kernel. */
const elementwise = <K extends IR.UnaryKind | IR.BinaryKind | "where">(
  { b, fusion }: EmitContext,
  n: IR.NodeOf<K>,
): View | undefined => (fusion.defer(n) ? undefined : fusion.emit(b, n))

const matmul: Emitter<"matmul"> = ({ b, tiles }, n, [x, y]) => {
  const [A] = n.inputs
  const [M, N] = n.shape.slice(-2)
  const K = A.shape[A.shape.length - 1]
  const batch = n.shape.slice(0, -2)
  const as = broadcastStrides({ shape: x.shape.slice(0, -2), strides: x.strides.slice(0, -2) }, batch)
  const bs = broadcastStrides({ shape: y.shape.slice(0, -2), strides: y.strides.slice(0, -2) }, batch)
  const c = collapse(batch, [as, bs])
  if (c.shape.length > MAX_BATCH_RANK) {
    b.fail("matmul", `${c.shape.length} batch axes after merging (at most ${MAX_BATCH_RANK})`)
    return b.temp(n.shape, "matmul")
  }
  const v = b.temp(n.shape, "matmul")
  const sAm = x.strides[x.shape.length - 2]
  // a weight shared by every batch (B broadcast) over rows that continue across batches: one product
  const fold = c.shape.length === 1 && c.strides[1][0] === 0 && c.strides[0][0] === M * sAm
  const rows = fold ? M * c.shape[0] : M
  const batchShape = fold ? [] : c.shape
  const tile = pickTile(tiles, rows, N)
  const batchCount = Tensor.size(batchShape)
  const grid: [number, number, number] = [Math.ceil(N / tile.bn), Math.ceil(rows / tile.bm), batchCount]
  const lim = b.limits.maxComputeWorkgroupsPerDimension
  if (grid.some((g) => g > lim)) b.fail("matmul", `grid [${grid}] exceeds ${lim} workgroups per dimension`)
  if (Tensor.size(n.shape) === 0 || n.shape.length < 2) grid[0] = 0
  const params = {
    M: rows,
    N,
    K,
    batchShape,
    aBatch: fold ? [] : c.strides[0],
    bBatch: fold ? [] : c.strides[1],
    aOff: x.offset,
    bOff: y.offset,
    sAm,
    sAk: x.strides[x.shape.length - 1],
    sBk: y.strides[y.shape.length - 2],
    sBn: y.strides[y.shape.length - 1],
  }
  const label = `matmul ${rows}×${N}×${K}×${batchCount}`
  b.dispatch(tiledMatmul(tile), params, { reads: [x.buf, y.buf], write: v.buf, grid, op: "matmul", label })
  return v
}

/** Sum or max over `axes`: a thread per output, or a workgroup per output for long reductions. */
const reduce = <K extends "sum" | "max">({ b }: EmitContext, n: IR.NodeOf<K>, [src]: readonly View[]): View => {
  const { kind, axes } = n.op as IR.OpOf<"sum" | "max">
  if (axes.length === 0) return src
  const keptAxes = src.shape.map((_, i) => i).filter((i) => !axes.includes(i))
  const kc = collapse(
    keptAxes.map((i) => src.shape[i]),
    [keptAxes.map((i) => src.strides[i])],
  )
  const rc = collapse(
    axes.map((i) => src.shape[i]),
    [axes.map((i) => src.strides[i])],
  )
  if (kc.shape.length > MAXR || rc.shape.length > MAXR) {
    b.fail(kind, `rank exceeds ${MAXR}`)
    return b.temp(n.shape, kind)
  }
  const v = b.temp(n.shape, kind)
  const outputs = Tensor.size(n.shape)
  const reduced = Tensor.size(axes.map((i) => src.shape[i]))
  const group = reduced >= GROUP_REDUCE_FROM
  const wide = reduced >= WIDE_FROM ? 256 : 64
  const K = KERNELS
  const kernel = kind === "sum" ? (group ? K.sumGroup[wide] : K.sumThread) : group ? K.maxGroup[wide] : K.maxThread
  const params = {
    outputs,
    reduced,
    kept: { shape: kc.shape, strides: kc.strides[0] },
    red: { shape: rc.shape, strides: rc.strides[0] },
    offset: src.offset,
  }
  b.dispatch(kernel, params, { reads: [src.buf], write: v.buf, grid: b.gridFor(outputs, group ? 1 : WG, kind), op: kind })
  return v
}

const softmax = <K extends "softmax" | "logSoftmax">({ b }: EmitContext, n: IR.NodeOf<K>, x: readonly View[]): View => {
  const { kind, axis } = n.op as IR.OpOf<"softmax" | "logSoftmax">
  const src = b.contiguous(x[0], kind)
  const v = b.temp(n.shape, kind)
  const len = n.shape[axis]
  const inner = Tensor.size(n.shape.slice(axis + 1))
  const rows = Tensor.size(n.shape) / Math.max(len, 1)
  const wg = len < GROUP_REDUCE_FROM ? 1 : len < WIDE_FROM ? 64 : 256
  const params = { rows: len === 0 ? 0 : rows, len, inner, offset: src.offset }
  const grid = b.gridFor(len === 0 ? 0 : rows, wg === 1 ? WG : 1, kind)
  b.dispatch(KERNELS[kind][wg], params, { reads: [src.buf], write: v.buf, grid, op: kind })
  return v
}

const reshape: Emitter<"reshape"> = ({ b }, n, x) => {
  const src = b.contiguous(x[0], "reshape")
  return contiguousView(n.op.shape, src.buf, src.offset)
}

const transpose: Emitter<"transpose"> = (_, n, [src]) => ({
  buf: src.buf,
  shape: n.op.perm.map((p) => src.shape[p]),
  strides: n.op.perm.map((p) => src.strides[p]),
  offset: src.offset,
})

const slice: Emitter<"slice"> = (_, n, [src]) => ({
  buf: src.buf,
  shape: n.shape,
  strides: src.strides,
  offset: src.offset + n.op.starts.reduce((acc, s, i) => acc + s * src.strides[i], 0),
})

const broadcast: Emitter<"broadcast"> = (_, n, [src]) => ({
  ...src,
  shape: n.shape,
  strides: broadcastStrides(src, n.shape),
})

const pad: Emitter<"pad"> = ({ b }, n, [src]) => {
  const v = b.temp(n.shape, "pad")
  if (n.shape.length > MAXR) {
    b.fail("pad", `rank exceeds ${MAXR}`)
    return v
  }
  const count = Tensor.size(n.shape)
  const params = {
    count,
    shape: n.shape,
    before: n.op.before,
    inShape: src.shape,
    inStrides: src.strides,
    offset: src.offset,
  }
  b.dispatch(KERNELS.pad, params, { reads: [src.buf], write: v.buf, grid: b.gridFor(count, WG, "pad"), op: "pad" })
  return v
}

/** Each input copied into its region of the output. */
const concat: Emitter<"concat"> = ({ b }, n, x) => {
  const v = b.temp(n.shape, "concat")
  let at = 0
  for (const src of x) {
    const region: View = { buf: v.buf, shape: src.shape, strides: v.strides, offset: at * v.strides[n.op.axis] }
    if (Tensor.size(src.shape) > 0) b.map(KERNELS.copy, "concat", region, [src])
    at += src.shape[n.op.axis]
  }
  return v
}

/** A gather or scatter-add dispatch; its error code is its step index + 1. */
const indexed = (b: PlanBuilder, op: "gather" | "scatterAdd", reads: number[], out: View, q: Omit<IndexedParams, "code">) => {
  const grid = b.gridFor(q.row === 0 ? 0 : q.count, WG, op)
  b.dispatch(KERNELS[op], { ...q, code: b.nextStep + 1 }, { reads, write: out.buf, grid, op, idBound: q.rows })
}

const gather: Emitter<"gather"> = ({ b }, n, x) => {
  const table = b.contiguous(x[0], "gather")
  const ids = b.contiguous(x[1], "gather")
  const v = b.temp(n.shape, "gather")
  const [T] = n.inputs
  indexed(b, "gather", [table.buf, ids.buf], v, {
    count: Tensor.size(n.shape),
    row: Tensor.size(T.shape.slice(1)),
    rows: T.shape[0],
    dataOffset: table.offset,
    idsOffset: ids.offset,
  })
  return v
}

const scatterAdd: Emitter<"scatterAdd"> = ({ b }, n, x) => {
  const ids = b.contiguous(x[0], "scatterAdd")
  const upd = b.contiguous(x[1], "scatterAdd")
  const v = b.temp(n.shape, "scatterAdd")
  b.map(KERNELS.fill, "scatterAdd", v, [], 0)
  indexed(b, "scatterAdd", [ids.buf, upd.buf], v, {
    count: Tensor.size(n.inputs[1].shape),
    row: Tensor.size(n.shape.slice(1)),
    rows: n.op.rows,
    dataOffset: upd.offset,
    idsOffset: ids.offset,
  })
  return v
}

const oneHot: Emitter<"oneHot"> = ({ b }, n, x) => {
  const ids = b.contiguous(x[0], "oneHot")
  const v = b.temp(n.shape, "oneHot")
  const count = Tensor.size(n.shape)
  const params = { count, depth: n.op.depth, idsOffset: ids.offset }
  b.dispatch(KERNELS.oneHot, params, { reads: [ids.buf], write: v.buf, grid: b.gridFor(count, WG, "oneHot"), op: "oneHot" })
  return v
}

/** Free between equal types; f32 ↔ i32 by a map kernel. */
const cast: Emitter<"cast"> = ({ b }, n, x) => {
  if (n.inputs[0].dtype === n.op.to) return x[0]
  const v = b.temp(n.shape, "cast")
  b.map(n.op.to === "i32" ? KERNELS.f2i : KERNELS.i2f, "cast", v, x)
  return v
}

export const EMITTERS: { readonly [K in IR.OpKind]: Emitter<K> } = {
  input,
  constant,
  fill,
  neg: elementwise,
  exp: elementwise,
  log: elementwise,
  tanh: elementwise,
  sqrt: elementwise,
  rsqrt: elementwise,
  recip: elementwise,
  relu: elementwise,
  gelu: elementwise,
  geluDeriv: elementwise,
  add: elementwise,
  sub: elementwise,
  mul: elementwise,
  div: elementwise,
  gt: elementwise,
  eq: elementwise,
  where: elementwise,
  matmul,
  sum: reduce,
  max: reduce,
  softmax,
  logSoftmax: softmax,
  reshape,
  transpose,
  slice,
  broadcast,
  pad,
  concat,
  gather,
  scatterAdd,
  oneHot,
  cast,
}

/** The emitter of `n`'s op, applied. */
export const emit = <K extends IR.OpKind>(ctx: EmitContext, n: IR.NodeOf<K>, x: readonly View[]) =>
  (EMITTERS[n.op.kind] as Emitter<K>)(ctx, n, x)
