/**
 * One run of a compiled graph: write the feeds, record one compute pass (or, when profiling, one
 * waited-on submission per dispatch), copy the outputs and the error flags into one staging
 * buffer, read it back, and turn a raised id error into a typed error naming the op.
 */
/// <reference types="@webgpu/types" />
import type { CheckedTensor, Outputs } from "@spot/core/graph"
import { BackendError } from "@spot/core/graph"
import { Effect } from "effect"
import { withErrorScopes } from "./device.ts"
import type { Compiled, Dispatch } from "./lower.ts"
import { type Resources, tensorBytes } from "./resources.ts"

export interface ProfileRow {
  /** The IR op (matmuls with their M×N×K×batch). */
  readonly op: string
  readonly ms: number
  readonly dispatches: number
}

/** Time per op, summed over runs. */
export interface Profiler {
  readonly add: (key: string, ms: number) => void
  /** Slowest first. */
  readonly rows: () => ReadonlyArray<ProfileRow>
}

export const makeProfiler = (): Profiler => {
  const totals = new Map<string, { ms: number; dispatches: number }>()
  return {
    add: (key, ms) => {
      const row = totals.get(key) ?? { ms: 0, dispatches: 0 }
      totals.set(key, { ms: row.ms + ms, dispatches: row.dispatches + 1 })
    },
    rows: () => [...totals].map(([op, r]) => ({ op, ...r })).sort((a, b) => b.ms - a.ms),
  }
}

export interface ExecuteContext {
  readonly name: string
  readonly resources: Resources
  /** Set when every dispatch is to be timed separately. */
  readonly profiler?: Profiler
}

const record = (pass: GPUComputePassEncoder, d: Dispatch) => {
  pass.setPipeline(d.pipe)
  pass.setBindGroup(0, d.group)
  pass.dispatchWorkgroups(d.step.grid[0], d.step.grid[1], d.step.grid[2])
}

/** One submission per dispatch, waited on: slow, but it attributes time to ops. */
const profileRun = (device: GPUDevice, c: Compiled, profiler: Profiler) =>
  Effect.gen(function* () {
    for (const d of c.dispatches) {
      const enc = device.createCommandEncoder()
      const pass = enc.beginComputePass()
      record(pass, d)
      pass.end()
      const t0 = performance.now()
      device.queue.submit([enc.finish()])
      yield* Effect.promise(() => device.queue.onSubmittedWorkDone())
      profiler.add(d.step.label, performance.now() - t0)
    }
  })

/** Records every dispatch and the copies of the outputs and error flags into the staging buffer. */
const submit = (res: Resources, c: Compiled, staging: GPUBuffer) => {
  const device = res.device
  const enc = device.createCommandEncoder()
  enc.clearBuffer(c.errors)
  const pass = enc.beginComputePass()
  for (const d of c.dispatches) record(pass, d)
  pass.end()
  let at = 0
  for (const o of c.plan.outputs) {
    if (o.size > 0) enc.copyBufferToBuffer(c.buffers[o.buf], o.offset * 4, staging, at, o.size * 4)
    at += o.size * 4
  }
  enc.copyBufferToBuffer(c.errors, 0, staging, at, 16)
  device.queue.submit([enc.finish()])
}

/** The outputs in the read-back bytes, or the error an id-checking kernel raised. */
const decode = (name: string, c: Compiled, bytes: ArrayBuffer): Effect.Effect<Outputs, BackendError> => {
  const out: Outputs = {}
  let at = 0
  for (const o of c.plan.outputs) {
    out[o.name] =
      o.dtype === "f32"
        ? { dtype: "f32", shape: o.shape, data: new Float32Array(bytes, at, o.size) }
        : { dtype: "i32", shape: o.shape, data: new Int32Array(bytes, at, o.size) }
    at += o.size * 4
  }
  const err = new Uint32Array(bytes, at, 4)
  if (err[0] === 0) return Effect.succeed(out)
  const step = c.plan.steps[err[0] - 1]
  const message = `id ${err[1] | 0} is outside [0, ${step.idBound})`
  return Effect.fail(new BackendError({ backend: name, op: step.op, message }))
}

export const execute = (
  ctx: ExecuteContext,
  c: Compiled,
  feeds: ReadonlyMap<string, CheckedTensor>,
): Effect.Effect<Outputs, BackendError> =>
  Effect.gen(function* () {
    const { name, resources: res } = ctx
    const device = res.device
    yield* withErrorScopes(device, name, "input", () => {
      for (const [feed, buf] of c.feeds) device.queue.writeBuffer(buf, 0, tensorBytes(feeds.get(feed) as CheckedTensor))
    })
    if (ctx.profiler) yield* profileRun(device, c, ctx.profiler)
    let created: GPUBuffer | undefined
    const bytes = yield* Effect.gen(function* () {
      const staging = yield* withErrorScopes(device, name, "run", () => {
        created = res.buffer(c.outBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST)
        submit(res, c, created)
        return created
      })
      yield* Effect.tryPromise({
        try: () => staging.mapAsync(GPUMapMode.READ),
        catch: (e) => new BackendError({ backend: name, op: "run", message: `reading results back failed: ${String(e)}` }),
      })
      const copy = staging.getMappedRange().slice(0)
      staging.unmap()
      return copy
    }).pipe(Effect.ensuring(Effect.sync(() => res.destroy(created ? [created] : []))))
    return yield* decode(name, c, bytes)
  })
