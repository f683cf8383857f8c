/**
 * What one backend instance holds on its device: pipelines by kernel source, weights uploaded once
 * (shared by every graph compiled on this instance, whatever its shape), and every buffer it created.
 * `release` (run when the backend's scope closes) destroys every buffer still alive — resident
 * weights and the buffers of sessions never disposed — and drops the pipelines.
 */
/// <reference types="@webgpu/types" />
import type { CheckedTensor } from "@spot/core/graph"

export interface ResourceCounts {
  /** Compiled pipelines held in the cache. */
  readonly pipelines: number
  /** Weights resident on the device. */
  readonly residentWeights: number
  /** Buffers created by this backend and not destroyed yet (resident weights included). */
  readonly buffers: number
}

export interface Resources {
  readonly device: GPUDevice
  /** The compute pipeline of a WGSL source (entry point `main`), compiled once. */
  readonly pipeline: (source: string) => Promise<GPUComputePipeline>
  /** A buffer of `size` bytes (rounded up to 16), tracked until `destroy` or `release`. */
  readonly buffer: (size: number, usage: number) => GPUBuffer
  /** A buffer holding `bytes` (padded to `size`, rounded up to 16). */
  readonly upload: (bytes: Uint8Array, usage: number, size?: number) => GPUBuffer
  /** The resident copy of a weight, uploaded on first use (keyed by the host array). */
  readonly resident: (t: CheckedTensor, size: number) => GPUBuffer
  readonly destroy: (buffers: Iterable<GPUBuffer>) => void
  readonly counts: () => ResourceCounts
  /** Destroys every live buffer and drops the pipelines; the instance must not be used afterwards. */
  readonly release: () => void
}

/** Storage buffers the kernels read and write, and that runs copy into and out of. */
export const STORAGE_USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST

/** The bytes of a checked (f32 or i32) tensor, as the kernels read them. */
export const tensorBytes = (t: CheckedTensor): Uint8Array => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)

export const makeResources = (device: GPUDevice): Resources => {
  const pipelines = new Map<string, Promise<GPUComputePipeline>>()
  const live = new Set<GPUBuffer>()
  let resident = new WeakMap<object, GPUBuffer>()
  let residentCount = 0
  const buffer = (size: number, usage: number) => {
    const b = device.createBuffer({ size: Math.max(16, Math.ceil(size / 16) * 16), usage })
    live.add(b)
    return b
  }
  const upload = (bytes: Uint8Array, usage: number, size = bytes.byteLength) => {
    const b = device.createBuffer({ size: Math.max(16, Math.ceil(size / 16) * 16), usage, mappedAtCreation: true })
    live.add(b)
    new Uint8Array(b.getMappedRange()).set(bytes)
    b.unmap()
    return b
  }
  return {
    device,
    pipeline: (source) => {
      let p = pipelines.get(source)
      if (!p) {
        const module = device.createShaderModule({ code: source })
        p = device.createComputePipelineAsync({ layout: "auto", compute: { module, entryPoint: "main" } })
        pipelines.set(source, p)
      }
      return p
    },
    buffer,
    upload,
    resident: (t, size) => {
      const hit = resident.get(t.data)
      if (hit) return hit
      const b = upload(tensorBytes(t), STORAGE_USAGE(), size)
      resident.set(t.data, b)
      residentCount++
      return b
    },
    destroy: (buffers) => {
      for (const b of buffers) {
        if (live.delete(b)) b.destroy()
      }
    },
    counts: () => ({ pipelines: pipelines.size, residentWeights: residentCount, buffers: live.size }),
    release: () => {
      for (const b of live) b.destroy()
      live.clear()
      pipelines.clear()
      resident = new WeakMap()
      residentCount = 0
    },
  }
}
