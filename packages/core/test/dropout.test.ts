import { type HostTensor, ReferenceBackend, T5Graph, T5Presets, T5Runner } from "@spot/core"
import { Effect, Scope } from "effect"
import { describe, expect, it } from "vitest"
import { batchFor, tinyConfig } from "./t5-util.ts"
import { fileScope, randomTensor } from "./util.ts"

const scope = fileScope()
const runS = <A, E>(e: Effect.Effect<A, E, import("@spot/core").Backend | Scope.Scope>) =>
  Effect.runSync(e.pipe(Scope.provide(scope), Effect.provide(ReferenceBackend.layer)))

describe("training-mode dropout", () => {
  const c = tinyConfig({ dFf: 6, numLayers: 2, dropoutRate: 0.1 })
  const model = T5Presets.randomT5(c, 5)
  const batch = batchFor(c, 2, 4, 3, 9)
  const prompt = randomTensor([3, 8], 2)
  it("is reproducible per seed, differs across seeds, and is off in evaluation", () => {
    const runner = runS(T5Runner.makeRunner(model))
    const loss = (seed?: number) =>
      runS(runner.run({ prompt, batch, outputs: ["loss"], dropoutSeed: seed })).loss?.data[0] as number
    expect(loss(1)).toBe(loss(1))
    expect(loss(1)).not.toBe(loss(2))
    expect(loss(undefined)).toBe(loss(undefined))
    expect(loss(undefined)).not.toBe(loss(1))
    // with dropout_rate 0 the seed has no effect
    const r0 = runS(T5Runner.makeRunner(T5Presets.randomT5({ ...c, dropoutRate: 0 }, 5)))
    expect(runS(r0.run({ prompt, batch, outputs: ["loss"], dropoutSeed: 1 })).loss?.data[0]).toBe(
      runS(r0.run({ prompt, batch, outputs: ["loss"] })).loss?.data[0],
    )
  })
  it("masks drop about p of the units and scale the rest by 1/(1-p)", () => {
    const masks = T5Graph.dropoutMasks([{ name: "dropout/x", shape: [100, 100] }], 0.1, 7).get("dropout/x") as HostTensor<"f32">
    const zeros = masks.data.filter((v) => v === 0).length / masks.data.length
    expect(Math.abs(zeros - 0.1)).toBeLessThan(0.01)
    expect(new Set(masks.data)).toEqual(new Set([0, Math.fround(1 / 0.9)]))
    const sites = T5Graph.dropoutSites(
      T5Graph.buildT5(c, { batch: 2, srcLen: 4, promptLen: 3, tgtLen: 3 }, { dropout: true }),
    ).map((s) => s.name)
    // embeddings and final outputs of both stacks, attention probabilities and outputs, FFN hidden and outputs
    expect(sites).toContain("dropout/encoder.embeddings")
    expect(sites).toContain("dropout/decoder.final")
    expect(sites).toContain("dropout/encoder.block.1.layer.0.SelfAttention.probs")
    expect(sites).toContain("dropout/decoder.block.0.layer.1.EncDecAttention.out")
    expect(sites).toContain("dropout/decoder.block.0.layer.2.DenseReluDense.hidden")
    expect(sites).toHaveLength(2 + 2 + 2 * 4 + 1 * 6) // embeddings, finals, 2 encoder layers × 4, 1 decoder layer × 6
  })
  it("the prompt gradient with dropout matches finite differences (same masks)", () => {
    const runner = runS(T5Runner.makeRunner(model))
    const g = runS(runner.run({ prompt, batch, outputs: ["promptGrad"], dropoutSeed: 3 })).promptGrad?.data as Float32Array
    const f = (x: Float32Array) =>
      runS(runner.run({ prompt: { ...prompt, data: x }, batch, outputs: ["loss"], dropoutSeed: 3 })).loss?.data[0] as number
    const gNorm = Math.hypot(...g)
    const v = g.map((x) => x / gNorm)
    const h = 2e-3
    const fd = (f(prompt.data.map((x, i) => x + h * v[i])) - f(prompt.data.map((x, i) => x - h * v[i]))) / (2 * h)
    expect(Math.abs(fd - gNorm)).toBeLessThan(2e-2 * gNorm + 1e-3)
  })
})
