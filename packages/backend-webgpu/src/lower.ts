/**
 * A checked graph → what a run needs on the device: the plan, its pipelines, its buffers (pooled
 * temporaries, constants, per-run feed buffers, resident weights) and one bind group per dispatch,
 * with every step's parameters in one uniform buffer.
 */
/// <reference types="@webgpu/types" />
import type { CheckedGraph, CheckedTensor } from "@spot/core/graph"
import { BackendError } from "@spot/core/graph"
import { Effect, Result } from "effect"
import { withErrorScopes } from "./device.ts"
import { PARAM_WORDS } from "./kernels/kernel.ts"
import { buildPlan, type Plan, type Step, type Tiles } from "./plan.ts"
import { type Resources, STORAGE_USAGE } from "./resources.ts"

/** Bytes of one step's uniform slot. */
export const SLOT_BYTES = PARAM_WORDS * 4

export interface Dispatch {
  readonly pipe: GPUComputePipeline
  readonly group: GPUBindGroup
  readonly step: Step
}

export interface Compiled {
  readonly plan: Plan
  /** The device buffer of each plan buffer. */
  readonly buffers: readonly GPUBuffer[]
  /** The buffer each per-run input is written to. */
  readonly feeds: ReadonlyMap<string, GPUBuffer>
  /** Error flags the id-checking kernels raise: [step + 1, offending id]. */
  readonly errors: GPUBuffer
  /** The dispatches with work to do (steps over empty tensors are left out), in order. */
  readonly dispatches: readonly Dispatch[]
  /** Bytes of the read-back buffer: every output, then the error flags. */
  readonly outBytes: number
  /** Buffers this compiled graph owns (resident weights are the backend's). */
  readonly owned: readonly GPUBuffer[]
}

export interface LowerContext {
  readonly name: string
  readonly resources: Resources
  readonly tiles: Tiles
}

export const lower = (ctx: LowerContext, checked: CheckedGraph): Effect.Effect<Compiled, BackendError> =>
  Effect.gen(function* () {
    const { name, resources: res } = ctx
    const device = res.device
    const fail = (op: string, message: string) => new BackendError({ backend: name, op, message })
    const planned = buildPlan(checked.graph, checked.nodes, new Set(checked.weights.keys()), device.limits, ctx.tiles)
    if (Result.isFailure(planned)) return yield* fail(planned.failure.op, planned.failure.message)
    const plan = planned.success
    const kernels = [...new Set(plan.steps.map((s) => s.kernel.source))]
    const pipelines = yield* Effect.tryPromise({
      try: () => Promise.all(kernels.map((k) => res.pipeline(k))),
      catch: (e) => fail("compile", `a WGSL pipeline failed to compile: ${String(e)}`),
    })
    const bySource = new Map(kernels.map((k, i) => [k, pipelines[i]]))
    const owned: GPUBuffer[] = []
    return yield* withErrorScopes(device, name, "compile", () => bind(res, checked, plan, bySource, owned)).pipe(
      Effect.tapError(() => Effect.sync(() => res.destroy(owned))),
    )
  })

/** Allocates the plan's buffers and records one bind group per step. */
const bind = (
  res: Resources,
  checked: CheckedGraph,
  plan: Plan,
  pipelines: ReadonlyMap<string, GPUComputePipeline>,
  owned: GPUBuffer[],
): Compiled => {
  const own = (b: GPUBuffer) => {
    owned.push(b)
    return b
  }
  const storage = STORAGE_USAGE()
  const slots = plan.slotBytes.map((bytes) => own(res.buffer(bytes, storage)))
  const feeds = new Map<string, GPUBuffer>()
  const buffers = plan.buffers.map((b, i): GPUBuffer => {
    switch (b.role.kind) {
      case "temp":
        return slots[plan.slotOf[i]]
      case "constant":
        return own(res.upload(b.role.data, storage, b.bytes))
      case "weight":
        return res.resident(checked.weights.get(b.role.name) as CheckedTensor, b.bytes)
      default: {
        const buf = own(res.buffer(b.bytes, storage))
        feeds.set(b.role.name, buf)
        return buf
      }
    }
  })
  const errors = own(res.buffer(16, storage))
  const paramBytes = new Uint8Array(Math.max(1, plan.steps.length) * SLOT_BYTES)
  plan.steps.forEach((s, i) => {
    paramBytes.set(new Uint8Array(s.params.buffer), i * SLOT_BYTES)
  })
  const params = own(res.upload(paramBytes, GPUBufferUsage.UNIFORM))
  const dispatches = plan.steps.flatMap((step, i): Dispatch[] => {
    // steps over empty tensors have nothing to dispatch
    if (step.grid[0] === 0) return []
    const pipe = pipelines.get(step.kernel.source) as GPUComputePipeline
    const entries: GPUBindGroupEntry[] = [
      { binding: 0, resource: { buffer: params, offset: i * SLOT_BYTES, size: SLOT_BYTES } },
      ...step.reads.map((b, j) => ({ binding: j + 1, resource: { buffer: buffers[b] } })),
      { binding: step.reads.length + 1, resource: { buffer: buffers[step.write] } },
    ]
    if (step.kernel.errors) entries.push({ binding: step.reads.length + 2, resource: { buffer: errors } })
    return [{ pipe, group: res.device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries }), step }]
  })
  const outBytes = plan.outputs.reduce((a, o) => a + o.size * 4, 0) + 16
  return { plan, buffers, feeds, errors, dispatches, outBytes, owned }
}
