/** The data a plan is made of: views, buffers, dispatch steps, outputs; and what it needs of the device. */
import type { IR } from "@spot/core/graph"
import type { KernelInfo } from "../kernels/kernel.ts"

/** A strided window on a buffer (elements, not bytes). */
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
  readonly kernel: KernelInfo
  /** Buffers bound as inputs, in binding order, then the output buffer. */
  readonly reads: readonly number[]
  readonly write: number
  /** The kernel's parameter block, as its `encode` wrote it. */
  readonly params: Uint32Array
  readonly grid: readonly [number, number, number]
  /** The IR op this step computes (for errors). */
  readonly op: string
  /** What a profile calls it: the op, and a matmul's M×N×K×batch. */
  readonly label: string
  /** For the id-checking kernels: ids must lie in [0, idBound). */
  readonly idBound?: number
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
