import { NodeServices } from "@effect/platform-node"
import { Backend, Parity, ReferenceBackend } from "@spot/core"
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { FIXTURES, fixtureDir } from "./fixtures.ts"

describe("parity with transformers (reference backend)", () => {
  for (const name of FIXTURES) {
    it(name, async () => {
      const report = await Effect.runPromise(
        Parity.runParity(fixtureDir(name)).pipe(Effect.provide(Layer.mergeAll(NodeServices.layer, ReferenceBackend.layer))),
      )
      expect(report.loss_rel_err).toBeLessThan(1e-4)
      expect(report.logits_rel_err).toBeLessThan(1e-4)
      expect(report.encoder_rel_err).toBeLessThan(1e-4)
      expect(report.grad_cosine).toBeGreaterThan(0.9999)
      expect(report.grad_max_rel_err).toBeLessThan(1e-3)
      expect(report.generation_exact).toBe(true)
      expect(report.pass).toBe(true)
    })
  }
  it("uses the Backend service", () => {
    expect(Backend.key).toBeTypeOf("string")
  })
})
