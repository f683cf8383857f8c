/**
 * The state of a plan under construction: its buffers and steps, the first error, and the helpers
 * every emitter uses (temporaries, leaf buffers, grids, dispatches, strided maps, copies).
 */
import { Tensor } from "@spot/core/graph"
import { type Kernel, MAXR, WG } from "../kernels/kernel.ts"
import type { MapParams } from "../kernels/map.ts"
import { KERNELS } from "./kernels.ts"
import type { BufferDecl, BufferRole, Limits, PlanError, Step, View } from "./types.ts"
import { broadcastStrides, collapse, contiguousView, isContiguous } from "./views.ts"

/** Where a dispatch reads and writes, its grid, and what it is called. */
export interface DispatchTarget {
  readonly reads: readonly number[]
  readonly write: number
  readonly grid: readonly [number, number, number]
  readonly op: string
  readonly label?: string
  readonly idBound?: number
}

export class PlanBuilder {
  readonly buffers: BufferDecl[] = []
  readonly steps: Step[] = []
  /** The first error; emitting goes on (with placeholder views) but the plan fails. */
  failure: PlanError | undefined
  private readonly named = new Map<string, number>()

  constructor(readonly limits: Limits) {}

  fail(op: string, message: string) {
    this.failure ??= { op, message }
  }

  /** A buffer of `elements` 4-byte words (rounded up to 16 bytes), checked against the device limit. */
  newBuffer(elements: number, role: BufferRole, op: string): number {
    const bytes = Math.max(16, Math.ceil((elements * 4) / 16) * 16)
    const cap = Math.min(this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize)
    if (bytes > cap) {
      this.fail(op, `a tensor of ${bytes} bytes exceeds the device's storage buffer limit of ${cap} bytes`)
    }
    this.buffers.push({ bytes, role })
    return this.buffers.length - 1
  }

  /** A new contiguous temporary of `shape`. */
  temp(shape: readonly number[], op: string): View {
    return contiguousView(shape, this.newBuffer(Tensor.size(shape), { kind: "temp" }, op))
  }

  /** The buffer of a named leaf (an input), made once per `key`. */
  leaf(elements: number, role: BufferRole, key: string, op: string): number {
    const hit = this.named.get(key)
    if (hit !== undefined) return hit
    const b = this.newBuffer(elements, role, op)
    this.named.set(key, b)
    return b
  }

  /** Workgroups for `count` items, `perGroup` at a time, folded into x and y under the device limit. */
  gridFor(count: number, perGroup: number, op: string): [number, number, number] {
    const groups = Math.ceil(count / perGroup)
    if (groups === 0) return [0, 0, 0]
    const lim = this.limits.maxComputeWorkgroupsPerDimension
    const x = Math.min(groups, lim)
    const y = Math.ceil(groups / x)
    if (y > lim) this.fail(op, `${count} items need more than ${lim}×${lim} workgroups`)
    return [x, y, 1]
  }

  /** The index the next step will have. */
  get nextStep(): number {
    return this.steps.length
  }

  /** Appends a dispatch of `kernel`, its parameters encoded as the kernel reads them. */
  dispatch<P>(kernel: Kernel<P>, params: P, t: DispatchTarget) {
    this.steps.push({
      kernel,
      reads: t.reads,
      write: t.write,
      params: kernel.encode(params),
      grid: t.grid,
      op: t.op,
      label: t.label ?? t.op,
      ...(t.idBound !== undefined ? { idBound: t.idBound } : {}),
    })
  }

  /** out-view ← kernel(inputs) elementwise over the output's shape (inputs broadcast to it). */
  map(kernel: Kernel<MapParams>, op: string, out: View, ins: readonly View[], scalar = 0) {
    const c = collapse(out.shape, [out.strides, ...ins.map((v) => broadcastStrides(v, out.shape))])
    if (c.shape.length > MAXR) return this.fail(op, `rank ${c.shape.length} exceeds ${MAXR} after merging axes`)
    const count = Tensor.size(out.shape)
    const params = { count, shape: c.shape, strides: c.strides, offsets: [out.offset, ...ins.map((v) => v.offset)], scalar }
    this.dispatch(kernel, params, { reads: ins.map((v) => v.buf), write: out.buf, grid: this.gridFor(count, WG, op), op })
  }

  /** A contiguous view of `v` (copied when it is not one already). */
  contiguous(v: View, op: string): View {
    if (isContiguous(v)) return v
    const out = this.temp(v.shape, op)
    this.map(KERNELS.copy, op, out, [v])
    return out
  }
}
