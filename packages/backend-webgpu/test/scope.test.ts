/**
 * The backend's lifetime is its layer's scope: closing it destroys every buffer the backend made
 * (resident weights, and the buffers of sessions never disposed), drops its pipelines, and destroys
 * the device if the backend requested it — but never a device the caller passed in.
 */
/// <reference types="@webgpu/types" />
import { requestDevice, WebGpuBackend, type WebGpuBackendShape } from "@spot/backend-webgpu"
import { Backend, IR } from "@spot/core"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { describe, expect, it } from "vitest"
import { randomTensor } from "../../core/test/util.ts"
import { useSoftwareAdapter } from "./adapter.ts"

useSoftwareAdapter()

/** The backend of a layer, built in a scope the test closes. */
const open = (options: Parameters<typeof WebGpuBackend.layer>[0]) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const ctx = yield* Layer.buildWithScope(WebGpuBackend.layer(options), scope)
    return { scope, backend: Context.get(ctx, Backend) as WebGpuBackendShape }
  })

/** Whether the device still accepts a write into `b` (a destroyed buffer is a validation error). */
const usable = async (device: GPUDevice, b: GPUBuffer) => {
  device.pushErrorScope("validation")
  device.queue.writeBuffer(b, 0, new Uint8Array(4))
  return (await device.popErrorScope()) === null
}

const W = IR.input("W", [4, 4])
const x = IR.input("x", [3, 4])
const g1 = { outputs: { y: IR.matmul(x, W) } }
const g2 = { outputs: { y: IR.sum(IR.mul(x, IR.sum(W, 0))) } }
const weights = new Map([["W", randomTensor([4, 4], 1)]])
const feeds = { x: randomTensor([3, 4], 2) }

describe("the WebGPU backend's scope", () => {
  it("closing it destroys every buffer the backend made and drops its pipelines; the caller's device lives on", async () => {
    const device = await Effect.runPromise(requestDevice())
    // every buffer created on the device, seen from outside the backend
    const created: GPUBuffer[] = []
    const createBuffer = device.createBuffer.bind(device)
    device.createBuffer = (d: GPUBufferDescriptor) => {
      const b = createBuffer(d)
      created.push(b)
      return b
    }
    const { scope, backend } = await Effect.runPromise(open({ device }))
    const s1 = await Effect.runPromise(backend.compile(g1, weights))
    await Effect.runPromise(s1.run(feeds))
    const s2 = await Effect.runPromise(backend.compile(g2, weights)) // never disposed
    await Effect.runPromise(s2.run(feeds))
    const held = backend.resources()
    expect(held.residentWeights).toBe(1) // one upload of W for both graphs
    expect(held.pipelines).toBeGreaterThan(0)
    expect(held.buffers).toBeGreaterThan(1)

    await Effect.runPromise(s1.dispose)
    expect(backend.resources().buffers).toBeLessThan(held.buffers)
    expect(backend.resources().residentWeights).toBe(1) // a session's disposal leaves the weights

    const writable = created.filter((b) => b.usage & GPUBufferUsage.COPY_DST)
    const alive: GPUBuffer[] = []
    for (const b of writable) if (await usable(device, b)) alive.push(b)
    expect(alive.length).toBeGreaterThan(0) // s2's buffers and the resident weight, at least

    await Effect.runPromise(Scope.close(scope, Exit.void))
    expect(backend.resources()).toEqual({ pipelines: 0, residentWeights: 0, buffers: 0 })
    for (const b of alive) expect(await usable(device, b)).toBe(false)
    // the caller's device was not destroyed
    const own = createBuffer({ size: 16, usage: GPUBufferUsage.COPY_DST })
    expect(await usable(device, own)).toBe(true)
    own.destroy()
    device.destroy()
  })
  it("a device the backend requested itself is destroyed with the scope", async () => {
    const { scope, backend } = await Effect.runPromise(open({}))
    const s = await Effect.runPromise(backend.compile(g1, weights))
    await Effect.runPromise(s.run(feeds))
    await Effect.runPromise(Scope.close(scope, Exit.void))
    const lost = await Promise.race([
      backend.device.lost,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 10_000)),
    ])
    expect(lost?.reason).toBe("destroyed")
  })
})
