/**
 * Graph → dispatch plan, with no GPU in sight (so it is pure and testable). Every node becomes a
 * *view* (buffer, shape, strides, offset): reshape, transpose, slice, broadcast, fill and same-type
 * casts cost nothing, and kernels read strided views directly — a matmul with a transposed weight
 * or a head-split activation never copies it. Kernel outputs are contiguous temporaries whose
 * buffers are pooled by liveness, so a long backward pass reuses memory as it goes.
 */
import { IR, Tensor } from "@spot/core/graph"
import { Result } from "effect"
import {
  BIG_TILE,
  elementwise,
  gatherKernel,
  type Kernel,
  MAX_BATCH_RANK,
  MAX_FUSED_INPUTS,
  MAXR,
  type MatmulTile,
  MM,
  mapKernel,
  mapOffset,
  mapScalar,
  mapStrides,
  matmulKernel,
  oneHotKernel,
  PAD,
  PARAM_WORDS,
  padKernel,
  RED,
  reduceGroupKernel,
  reduceThreadKernel,
  SMALL_TILE,
  scatterAddKernel,
  softmaxKernel,
  TALL_TILE,
  WG,
  WIDE_TILE,
} from "./wgsl.ts"

type Node = IR.Node

export interface View {
  readonly buf: number
  readonly shape: readonly number[]
  readonly strides: readonly number[]
  readonly offset: number
}

export type BufferRole =
  | { readonly kind: "weight"; readonly name: string; readonly shape: readonly number[]; readonly dtype: IR.IRType }
  | { readonly kind: "feed"; readonly name: string; readonly shape: readonly number[]; readonly dtype: IR.IRType }
  | { readonly kind: "constant"; readonly data: Uint8Array }
  | { readonly kind: "temp" }

export interface BufferDecl {
  readonly bytes: number
  readonly role: BufferRole
}

export interface Step {
  readonly kernel: Kernel
  /** Buffers bound as inputs, in binding order, then the output buffer. */
  readonly reads: readonly number[]
  readonly write: number
  readonly params: Uint32Array
  readonly grid: readonly [number, number, number]
  /** The IR op this step computes (for errors). */
  readonly op: string
}

export interface PlanOutput {
  readonly name: string
  readonly buf: number
  readonly offset: number
  readonly size: number
  readonly dtype: IR.IRType
  readonly shape: readonly number[]
}

export interface Plan {
  readonly buffers: readonly BufferDecl[]
  readonly steps: readonly Step[]
  readonly outputs: readonly PlanOutput[]
  /** For each temp buffer, the pooled slot it lives in (-1 for other roles). */
  readonly slotOf: readonly number[]
  readonly slotBytes: readonly number[]
}

export interface Limits {
  readonly maxStorageBufferBindingSize: number
  readonly maxBufferSize: number
  readonly maxComputeWorkgroupsPerDimension: number
}

export interface PlanError {
  readonly op: string
  readonly message: string
}

const rowMajor = (shape: readonly number[]) => Tensor.strides(shape)

/** Merges adjacent axes that every operand walks contiguously; drops size-1 axes. */
export const collapse = (
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): { shape: number[]; strides: number[][] } => {
  const keep = shape.map((d, i) => (d === 1 ? -1 : i)).filter((i) => i >= 0)
  const outShape: number[] = []
  const outStr: number[][] = strides.map(() => [])
  for (const a of keep) {
    const last = outShape.length - 1
    if (last >= 0 && strides.every((s, j) => outStr[j][last] === s[a] * shape[a])) {
      outShape[last] *= shape[a]
      strides.forEach((s, j) => {
        outStr[j][last] = s[a]
      })
    } else {
      outShape.push(shape[a])
      strides.forEach((s, j) => {
        outStr[j].push(s[a])
      })
    }
  }
  return { shape: outShape, strides: outStr }
}

/** The strides that read `v` broadcast to `shape` (trailing axes aligned). */
const broadcastStrides = (v: View, shape: readonly number[]): number[] => {
  const lead = shape.length - v.shape.length
  return shape.map((d, i) => {
    const j = i - lead
    if (j < 0) return 0
    return v.shape[j] === 1 && d !== 1 ? 0 : v.strides[j]
  })
}

const isContiguous = (v: View) => {
  const want = rowMajor(v.shape)
  return v.shape.every((d, i) => d === 1 || v.strides[i] === want[i])
}

const f32bits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0]

// kernels are built once per process (their sources are the pipeline cache keys)
const ELEMENTWISE: ReadonlySet<string> = new Set([...IR.UNARY, ...IR.BINARY, "where"])

const K = {
  copy: mapKernel(["u32"], "u32", "x0"),
  fill: mapKernel([], "f32", "s"),
  f2i: mapKernel(["f32"], "i32", "i32(x0)"),
  i2f: mapKernel(["i32"], "f32", "f32(x0)"),
  sumThread: reduceThreadKernel("sum"),
  maxThread: reduceThreadKernel("max"),
  sumGroup: { 64: reduceGroupKernel("sum", 64), 256: reduceGroupKernel("sum", 256) },
  maxGroup: { 64: reduceGroupKernel("max", 64), 256: reduceGroupKernel("max", 256) },
  softmax: { 1: softmaxKernel(false, 1), 64: softmaxKernel(false, 64), 256: softmaxKernel(false, 256) },
  logSoftmax: { 1: softmaxKernel(true, 1), 64: softmaxKernel(true, 64), 256: softmaxKernel(true, 256) },
  gather: gatherKernel(),
  scatterAdd: scatterAddKernel(),
  oneHot: oneHotKernel(),
  pad: padKernel(),
}

const matmulKernels = new Map<string, Kernel>()
const mmKernel = (t: MatmulTile) => {
  const key = JSON.stringify(t)
  let k = matmulKernels.get(key)
  if (!k) {
    k = matmulKernel(t)
    matmulKernels.set(key, k)
  }
  return k
}

/** Matmul tilings, tried in this order: the first whose tile fits inside the output is used. */
export interface Tiles {
  readonly big: MatmulTile
  readonly tall: MatmulTile
  readonly wide: MatmulTile
  readonly small: MatmulTile
}
export const DEFAULT_TILES: Tiles = { big: BIG_TILE, tall: TALL_TILE, wide: WIDE_TILE, small: SMALL_TILE }
const pickTile = (t: Tiles, rows: number, cols: number) =>
  [t.big, t.tall, t.wide].find((x) => rows >= x.bm && cols >= x.bn) ?? t.small

/** Reductions (and softmax rows) this long use a workgroup per output; 256 threads from `WIDE_FROM`. */
const GROUP_REDUCE_FROM = 64
const WIDE_FROM = 4096

export const buildPlan = (
  graph: IR.Graph,
  topo: readonly Node[],
  bound: ReadonlySet<string>,
  limits: Limits,
  tiles: Tiles = DEFAULT_TILES,
): Result.Result<Plan, PlanError> => {
  const buffers: BufferDecl[] = []
  const steps: Step[] = []
  const views = new Map<Node, View>()
  const named = new Map<string, number>()
  let failure: PlanError | undefined
  const fail = (op: string, message: string) => {
    failure ??= { op, message }
  }

  const newBuffer = (elements: number, role: BufferRole, op: string) => {
    const bytes = Math.max(16, Math.ceil((elements * 4) / 16) * 16)
    const cap = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize)
    if (bytes > cap) {
      fail(op, `a tensor of ${bytes} bytes exceeds the device's storage buffer limit of ${cap} bytes`)
    }
    buffers.push({ bytes, role })
    return buffers.length - 1
  }
  const temp = (shape: readonly number[], op: string): View => ({
    buf: newBuffer(Tensor.size(shape), { kind: "temp" }, op),
    shape,
    strides: rowMajor(shape),
    offset: 0,
  })
  const gridFor = (count: number, perGroup: number, op: string): [number, number, number] => {
    const groups = Math.ceil(count / perGroup)
    if (groups === 0) return [0, 0, 0]
    const lim = limits.maxComputeWorkgroupsPerDimension
    const x = Math.min(groups, lim)
    const y = Math.ceil(groups / x)
    if (y > lim) fail(op, `${count} items need more than ${lim}×${lim} workgroups`)
    return [x, y, 1]
  }
  const params = () => new Uint32Array(PARAM_WORDS)

  /** out-view ← kernel(inputs) elementwise over `shape`. */
  const emitMap = (kernel: Kernel, op: string, out: View, ins: readonly View[], scalar = 0) => {
    const n = ins.length
    const c = collapse(out.shape, [out.strides, ...ins.map((v) => broadcastStrides(v, out.shape))])
    if (c.shape.length > MAXR) return fail(op, `rank ${c.shape.length} exceeds ${MAXR} after merging axes`)
    const p = params()
    const count = Tensor.size(out.shape)
    p[0] = count
    p[1] = c.shape.length
    p.set(c.shape, 2)
    c.strides.forEach((s, j) => {
      p.set(s, mapStrides(n, j))
    })
    p[mapOffset(n, 0)] = out.offset
    ins.forEach((v, j) => {
      p[mapOffset(n, j + 1)] = v.offset
    })
    p[mapScalar(n)] = f32bits(scalar)
    steps.push({ kernel, reads: ins.map((v) => v.buf), write: out.buf, params: p, grid: gridFor(count, WG, op), op })
  }
  /** gather / scatterAdd: `count` elements in rows of `row`, ids checked against `rows` (error code = step + 1). */
  const emitIndexed = (
    op: "gather" | "scatterAdd",
    reads: number[],
    out: View,
    count: number,
    row: number,
    rows: number,
    dataOffset: number,
    idsOffset: number,
  ) => {
    const p = params()
    p.set([count, row, rows, steps.length + 1, dataOffset, idsOffset])
    const grid = gridFor(row === 0 ? 0 : count, WG, op)
    steps.push({ kernel: K[op], reads, write: out.buf, params: p, grid, op })
  }
  /** A contiguous view of `v` (copied when it is not one already). */
  const contiguous = (v: View, op: string): View => {
    if (isContiguous(v)) return v
    const out = temp(v.shape, op)
    emitMap(K.copy, op, out, [v])
    return out
  }
  const leaf = (elements: number, role: BufferRole, key: string, op: string) => {
    const hit = named.get(key)
    if (hit !== undefined) return hit
    const b = newBuffer(elements, role, op)
    named.set(key, b)
    return b
  }

  // elementwise fusion: a node used once, by an elementwise op of its own shape, is computed inside
  // its consumer's kernel instead of being written out and read back
  const outputNodes = new Set(Object.values(graph.outputs))
  const users = new Map<Node, Node[]>()
  for (const n of topo) for (const i of new Set(n.inputs)) users.set(i, [...(users.get(i) ?? []), n])
  const isElementwise = (n: Node) => ELEMENTWISE.has(n.op.kind)
  const deferred = new Set<Node>()
  const fuseIntoUser = (n: Node) => {
    const u = users.get(n)
    return (
      isElementwise(n) &&
      !outputNodes.has(n) &&
      u?.length === 1 &&
      u[0].inputs.filter((i) => i === n).length === 1 &&
      isElementwise(u[0]) &&
      Tensor.sameShape(u[0].shape, n.shape)
    )
  }
  /** The leaves (nodes with views) a fused tree reads. */
  const leavesOf = (n: Node, acc: Set<Node>): Set<Node> => {
    if (deferred.has(n) && !views.has(n)) for (const i of n.inputs) leavesOf(i, acc)
    else acc.add(n)
    return acc
  }
  const rootLeaves = (root: Node) => {
    const acc = new Set<Node>()
    for (const i of root.inputs) leavesOf(i, acc)
    return acc
  }
  const subtreeSize = (n: Node): number =>
    deferred.has(n) && !views.has(n) ? 1 + n.inputs.reduce((a, i) => a + subtreeSize(i), 0) : 0
  /** Emits the kernel of an elementwise node with every deferred input inlined. */
  const emitFused = (root: Node): View => {
    // too many inputs: materialize the largest inlined subtree first, until the rest fits
    for (;;) {
      if (rootLeaves(root).size <= MAX_FUSED_INPUTS) break
      const inner = root.inputs.filter((i) => deferred.has(i) && !views.has(i)).sort((a, b) => subtreeSize(b) - subtreeSize(a))
      const big = inner[0]
      if (!big) break
      views.set(big, emitFused(big))
    }
    const leaves = [...rootLeaves(root)]
    const index = new Map(leaves.map((l, j) => [l, j]))
    const body: string[] = []
    const expr = (n: Node): string => {
      const j = index.get(n)
      if (j !== undefined) return `x${j}`
      const args = n.inputs.map(expr)
      body.push(`  let t${body.length} = ${elementwise(n.op.kind, args)};`)
      return `t${body.length - 1}`
    }
    const top = elementwise(
      root.op.kind,
      root.inputs.map((i) => expr(i)),
    )
    const kernel = mapKernel(
      leaves.map(() => "f32"),
      "f32",
      top,
      body.length > 0 ? `${body.join("\n")}\n` : "",
    )
    const out = temp(root.shape, root.op.kind)
    emitMap(
      kernel,
      root.op.kind,
      out,
      leaves.map((l) => views.get(l) as View),
    )
    return out
  }

  for (const n of topo) {
    if (failure) break
    const op = n.op
    const x = n.inputs.map((i) => views.get(i) as View)
    const contig = (shape: readonly number[], buf: number, offset = 0): View => ({
      buf,
      shape,
      strides: rowMajor(shape),
      offset,
    })
    let v: View
    switch (op.kind) {
      case "input": {
        const size = Tensor.size(n.shape)
        const role: BufferRole = bound.has(op.name)
          ? { kind: "weight", name: op.name, shape: n.shape, dtype: n.dtype }
          : { kind: "feed", name: op.name, shape: n.shape, dtype: n.dtype }
        v = contig(n.shape, leaf(size, role, `${role.kind}:${op.name}`, "input"))
        break
      }
      case "constant": {
        const d = op.value.data
        v = contig(
          n.shape,
          newBuffer(d.length, { kind: "constant", data: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) }, "constant"),
        )
        break
      }
      case "fill": {
        const data = new Uint8Array(new Float32Array([op.value]).buffer)
        v = { buf: newBuffer(1, { kind: "constant", data }, "fill"), shape: n.shape, strides: n.shape.map(() => 0), offset: 0 }
        break
      }
      case "neg":
      case "exp":
      case "log":
      case "tanh":
      case "sqrt":
      case "rsqrt":
      case "recip":
      case "relu":
      case "add":
      case "sub":
      case "mul":
      case "div":
      case "gt":
      case "eq":
      case "where":
        if (fuseIntoUser(n)) {
          deferred.add(n) // computed inside its user's kernel; no view of its own
          continue
        }
        v = emitFused(n)
        break
      case "matmul": {
        const [a, b] = x
        const [A] = n.inputs
        const r = n.shape.length
        const [M, N] = n.shape.slice(-2)
        const Kd = A.shape[A.shape.length - 1]
        const batch = n.shape.slice(0, -2)
        const as = broadcastStrides({ ...a, shape: a.shape.slice(0, -2), strides: a.strides.slice(0, -2) }, batch)
        const bs = broadcastStrides({ ...b, shape: b.shape.slice(0, -2), strides: b.strides.slice(0, -2) }, batch)
        const c = collapse(batch, [as, bs])
        if (c.shape.length > MAX_BATCH_RANK) {
          fail("matmul", `${c.shape.length} batch axes after merging (at most ${MAX_BATCH_RANK})`)
          v = temp(n.shape, "matmul")
          break
        }
        v = temp(n.shape, "matmul")
        const sAm = a.strides[a.shape.length - 2]
        // a weight shared by every batch (B broadcast) over rows that continue across batches: one product
        const fold = c.shape.length === 1 && c.strides[1][0] === 0 && c.strides[0][0] === M * sAm
        const rows = fold ? M * c.shape[0] : M
        const batchShape = fold ? [] : c.shape
        const p = params()
        p[0] = rows
        p[1] = N
        p[2] = Kd
        p[3] = batchShape.length
        p.set(batchShape, MM.batchShape)
        if (!fold) {
          p.set(c.strides[0], MM.aBatch)
          p.set(c.strides[1], MM.bBatch)
        }
        p[MM.aOff] = a.offset
        p[MM.bOff] = b.offset
        p[MM.sAm] = sAm
        p[MM.sAk] = a.strides[a.shape.length - 1]
        p[MM.sBk] = b.strides[b.shape.length - 2]
        p[MM.sBn] = b.strides[b.shape.length - 1]
        const tile = pickTile(tiles, rows, N)
        const batchCount = Tensor.size(batchShape)
        const grid: [number, number, number] = [Math.ceil(N / tile.bn), Math.ceil(rows / tile.bm), batchCount]
        const lim = limits.maxComputeWorkgroupsPerDimension
        if (grid.some((g) => g > lim)) fail("matmul", `grid [${grid}] exceeds ${lim} workgroups per dimension`)
        if (Tensor.size(n.shape) === 0 || r < 2) grid[0] = 0
        steps.push({ kernel: mmKernel(tile), reads: [a.buf, b.buf], write: v.buf, params: p, grid, op: "matmul" })
        break
      }
      case "sum":
      case "max": {
        const src = x[0]
        if (op.axes.length === 0) {
          v = src
          break
        }
        const keptAxes = src.shape.map((_, i) => i).filter((i) => !op.axes.includes(i))
        const kc = collapse(
          keptAxes.map((i) => src.shape[i]),
          [keptAxes.map((i) => src.strides[i])],
        )
        const rc = collapse(
          op.axes.map((i) => src.shape[i]),
          [op.axes.map((i) => src.strides[i])],
        )
        if (kc.shape.length > MAXR || rc.shape.length > MAXR) {
          fail(op.kind, `rank exceeds ${MAXR}`)
          v = temp(n.shape, op.kind)
          break
        }
        v = temp(n.shape, op.kind)
        const nOut = Tensor.size(n.shape)
        const nRed = Tensor.size(op.axes.map((i) => src.shape[i]))
        const p = params()
        p[0] = nOut
        p[1] = nRed
        p[2] = kc.shape.length
        p[3] = rc.shape.length
        p.set(kc.shape, RED.keptShape)
        p.set(kc.strides[0], RED.keptStr)
        p.set(rc.shape, RED.redShape)
        p.set(rc.strides[0], RED.redStr)
        p[RED.off] = src.offset
        const group = nRed >= GROUP_REDUCE_FROM
        const wide = nRed >= WIDE_FROM ? 256 : 64
        const kernel = op.kind === "sum" ? (group ? K.sumGroup[wide] : K.sumThread) : group ? K.maxGroup[wide] : K.maxThread
        steps.push({
          kernel,
          reads: [src.buf],
          write: v.buf,
          params: p,
          grid: gridFor(nOut, group ? 1 : WG, op.kind),
          op: op.kind,
        })
        break
      }
      case "softmax":
      case "logSoftmax": {
        const src = contiguous(x[0], op.kind)
        v = temp(n.shape, op.kind)
        const len = n.shape[op.axis]
        const inner = Tensor.size(n.shape.slice(op.axis + 1))
        const rows = Tensor.size(n.shape) / Math.max(len, 1)
        const p = params()
        p[0] = len === 0 ? 0 : rows
        p[1] = len
        p[2] = inner
        p[3] = src.offset
        const wg = len < GROUP_REDUCE_FROM ? 1 : len < WIDE_FROM ? 64 : 256
        steps.push({
          kernel: (op.kind === "softmax" ? K.softmax : K.logSoftmax)[wg],
          reads: [src.buf],
          write: v.buf,
          params: p,
          grid: gridFor(len === 0 ? 0 : rows, wg === 1 ? WG : 1, op.kind),
          op: op.kind,
        })
        break
      }
      case "reshape": {
        const src = contiguous(x[0], "reshape")
        v = contig(op.shape, src.buf, src.offset)
        break
      }
      case "transpose": {
        const src = x[0]
        v = {
          buf: src.buf,
          shape: op.perm.map((p) => src.shape[p]),
          strides: op.perm.map((p) => src.strides[p]),
          offset: src.offset,
        }
        break
      }
      case "slice": {
        const src = x[0]
        v = {
          buf: src.buf,
          shape: n.shape,
          strides: src.strides,
          offset: src.offset + op.starts.reduce((acc, s, i) => acc + s * src.strides[i], 0),
        }
        break
      }
      case "broadcast":
        v = { ...x[0], shape: n.shape, strides: broadcastStrides(x[0], n.shape) }
        break
      case "pad": {
        const src = x[0]
        v = temp(n.shape, "pad")
        if (n.shape.length > MAXR) {
          fail("pad", `rank exceeds ${MAXR}`)
          break
        }
        const p = params()
        const count = Tensor.size(n.shape)
        p[0] = count
        p[1] = n.shape.length
        p.set(n.shape, 2)
        p.set(op.before, PAD.before)
        p.set(src.shape, PAD.inShape)
        p.set(src.strides, PAD.inStr)
        p[PAD.off] = src.offset
        steps.push({ kernel: K.pad, reads: [src.buf], write: v.buf, params: p, grid: gridFor(count, WG, "pad"), op: "pad" })
        break
      }
      case "concat": {
        v = temp(n.shape, "concat")
        let at = 0
        for (const src of x) {
          const len = src.shape[op.axis]
          const region: View = {
            buf: v.buf,
            shape: src.shape,
            strides: v.strides,
            offset: at * v.strides[op.axis],
          }
          if (Tensor.size(src.shape) > 0) emitMap(K.copy, "concat", region, [src])
          at += len
        }
        break
      }
      case "gather": {
        const table = contiguous(x[0], "gather")
        const ids = contiguous(x[1], "gather")
        v = temp(n.shape, "gather")
        const row = Tensor.size(n.inputs[0].shape.slice(1))
        emitIndexed("gather", [table.buf, ids.buf], v, Tensor.size(n.shape), row, n.inputs[0].shape[0], table.offset, ids.offset)
        break
      }
      case "scatterAdd": {
        const ids = contiguous(x[0], "scatterAdd")
        const upd = contiguous(x[1], "scatterAdd")
        v = temp(n.shape, "scatterAdd")
        emitMap(K.fill, "scatterAdd", v, [], 0)
        const row = Tensor.size(n.shape.slice(1))
        const count = Tensor.size(n.inputs[1].shape)
        emitIndexed("scatterAdd", [ids.buf, upd.buf], v, count, row, op.rows, upd.offset, ids.offset)
        break
      }
      case "oneHot": {
        const ids = contiguous(x[0], "oneHot")
        v = temp(n.shape, "oneHot")
        const count = Tensor.size(n.shape)
        const p = params()
        p[0] = count
        p[1] = op.depth
        p[2] = ids.offset
        steps.push({
          kernel: K.oneHot,
          reads: [ids.buf],
          write: v.buf,
          params: p,
          grid: gridFor(count, WG, "oneHot"),
          op: "oneHot",
        })
        break
      }
      case "cast": {
        const from = n.inputs[0].dtype
        if (from === op.to) {
          v = x[0]
          break
        }
        v = temp(n.shape, "cast")
        emitMap(op.to === "i32" ? K.f2i : K.i2f, "cast", v, x)
        break
      }
      default: {
        const never: never = op
        return Result.fail({ op: String((never as { kind: string }).kind), message: "no WGSL kernel" })
      }
    }
    views.set(n, v)
  }
  if (failure) return Result.fail(failure)

  const outputs: PlanOutput[] = []
  for (const [name, node] of Object.entries(graph.outputs)) {
    const v = contiguous(views.get(node) as View, "output")
    outputs.push({ name, buf: v.buf, offset: v.offset, size: Tensor.size(node.shape), dtype: node.dtype, shape: node.shape })
  }
  if (failure) return Result.fail(failure)
  const pooled = pool(buffers, steps, new Set(outputs.map((o) => o.buf)))
  return Result.succeed({ buffers, steps, outputs, ...pooled })
}

/**
 * Assigns temporaries to reusable slots: a slot is taken at a buffer's first write and given back
 * after its last read (graph outputs are never given back). A step's output never shares a slot
 * with one of its own inputs, since the output is placed before the inputs are released.
 */
const pool = (buffers: readonly BufferDecl[], steps: readonly Step[], pinned: ReadonlySet<number>) => {
  const lastRead = new Array<number>(buffers.length).fill(-1)
  steps.forEach((s, i) => {
    for (const b of s.reads) lastRead[b] = i
  })
  const slotOf = new Array<number>(buffers.length).fill(-1)
  const slotBytes: number[] = []
  const free: number[] = []
  const release = (b: number) => {
    if (buffers[b].role.kind === "temp" && !pinned.has(b) && slotOf[b] >= 0) free.push(slotOf[b])
  }
  steps.forEach((s, i) => {
    const b = s.write
    if (buffers[b].role.kind === "temp" && slotOf[b] < 0) {
      const need = buffers[b].bytes
      let best = -1
      for (let f = 0; f < free.length; f++) {
        const size = slotBytes[free[f]]
        if (size >= need && size <= 4 * need && (best < 0 || size < slotBytes[free[best]])) best = f
      }
      if (best >= 0) {
        slotOf[b] = free[best]
        free.splice(best, 1)
      } else {
        slotOf[b] = slotBytes.length
        slotBytes.push(need)
      }
      if (lastRead[b] < i) release(b) // written but never read again (not an output): free at once
    }
    for (const r of new Set(s.reads)) if (lastRead[r] === i) release(r)
  })
  return { slotOf, slotBytes }
}
