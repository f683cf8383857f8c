/**
 * The WebGPU backend: IR graphs planned into WGSL compute dispatches (`plan.ts`, `kernels/`) and run
 * on a `GPUDevice` — the caller's, `navigator.gpu`'s (browsers, Deno), or dawn.node's (the optional
 * `webgpu` package in Node). Built with `Backend.make`, which checks graphs, weights and feeds; this
 * package supplies only `lower` (`lower.ts`), `execute` (`execute.ts`) and `dispose`.
 *
 * Weights are uploaded once per backend and stay resident across every compiled shape; pipelines
 * are cached by kernel source; a run writes the feeds, records one compute pass and reads back only
 * the graph's outputs. The backend lives in a scope: when it closes, every buffer the backend made
 * is destroyed, the pipelines are dropped, and a device it requested itself is destroyed.
 */
/// <reference types="@webgpu/types" />
import type { BackendShape } from "@spot/core/graph"
import { Backend } from "@spot/core/graph"
import { Effect, Layer } from "effect"
import { type AdapterReport, acquireDevice, adapterReport, type DeviceOptions } from "./device.ts"
import { execute, makeProfiler, type ProfileRow } from "./execute.ts"
import { type Compiled, lower } from "./lower.ts"
import { DEFAULT_TILES, type Tiles } from "./plan.ts"
import { makeResources, type ResourceCounts } from "./resources.ts"

export type { AdapterReport } from "./device.ts"
export { requestDevice } from "./device.ts"
export type { ProfileRow } from "./execute.ts"
export type { ResourceCounts } from "./resources.ts"

export interface WebGpuOptions extends DeviceOptions {
  /** Matmul tilings (for tuning on a new GPU; the defaults suit both software and NVIDIA adapters). */
  readonly tiles?: Tiles
  /**
   * Time every dispatch separately (each run also submits op by op and waits: much slower) and keep
   * the totals per op, read with `profile()`.
   */
  readonly profile?: boolean
}

export interface WebGpuBackendShape extends BackendShape {
  readonly adapter: AdapterReport
  readonly device: GPUDevice
  /** Time per op since the backend was made, slowest first (empty unless `profile` was set). */
  readonly profile: () => ReadonlyArray<ProfileRow>
  /** What the backend holds on the device now (all zero once its scope has closed). */
  readonly resources: () => ResourceCounts
}

/** The backend, in the current scope: its device resources are released when the scope closes. */
export const makeWebGpuBackend = (options: WebGpuOptions = {}) =>
  Effect.gen(function* () {
    const got = yield* Effect.acquireRelease(acquireDevice(options), (g) =>
      Effect.sync(() => {
        if (g.owned) g.device.destroy()
      }),
    )
    const adapter = adapterReport(got)
    const name = `webgpu${adapter.vendor ? `:${adapter.vendor}` : ""}`
    // released before the device (finalizers run in reverse order)
    const resources = yield* Effect.acquireRelease(
      Effect.sync(() => makeResources(got.device)),
      (r) => Effect.sync(() => r.release()),
    )
    const profiler = makeProfiler()
    const tiles = options.tiles ?? DEFAULT_TILES
    const backend = Backend.make<Compiled>({
      name,
      lower: (graph) => lower({ name, resources, tiles }, graph),
      execute: (compiled, feeds) => execute({ name, resources, ...(options.profile ? { profiler } : {}) }, compiled, feeds),
      dispose: (compiled) => Effect.sync(() => resources.destroy(compiled.owned)),
    })
    return {
      ...backend,
      adapter,
      device: got.device,
      profile: profiler.rows,
      resources: resources.counts,
    } satisfies WebGpuBackendShape
  })

export const WebGpuBackend = {
  /**
   * The WebGPU backend as the core `Backend` service, scoped to the layer: closing the scope destroys
   * its buffers (resident weights included), drops its pipelines and destroys a device it requested.
   * Fails with `BackendUnavailable` when no adapter exists.
   */
  layer: (options: WebGpuOptions = {}) => Layer.effect(Backend, makeWebGpuBackend(options)),
}
