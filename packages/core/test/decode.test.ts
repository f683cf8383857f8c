import { ReferenceBackend, T5Decode, T5Runner } from "@spot/core"
import { Effect, Scope } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { decodeCase } from "./t5-util.ts"
import { fileScope } from "./util.ts"

const scope = fileScope()
const runS = <A, E>(e: Effect.Effect<A, E, import("@spot/core").Backend | Scope.Scope>) =>
  Effect.runSync(e.pipe(Scope.provide(scope), Effect.provide(ReferenceBackend.layer)))

describe("beam search", () => {
  it("with one beam is greedy decoding; wider beams return valid sequences no less likely on their first steps", () => {
    fc.assert(
      fc.property(decodeCase, ({ c, B, model, b, prompt }) => {
        const runner = runS(T5Runner.makeRunner(model))
        const greedy = runS(
          T5Decode.generateGreedy(runner, { prompt, inputIds: b.inputIds, attentionMask: b.attentionMask, maxNewTokens: 4 }),
        )
        const one = runS(
          T5Decode.generateBeam(runner, {
            prompt,
            inputIds: b.inputIds,
            attentionMask: b.attentionMask,
            maxNewTokens: 4,
            beams: 1,
          }),
        )
        expect(one.shape).toEqual(greedy.shape)
        expect(Array.from(one.data)).toEqual(Array.from(greedy.data))
        const wide = runS(
          T5Decode.generateBeam(runner, {
            prompt,
            inputIds: b.inputIds,
            attentionMask: b.attentionMask,
            maxNewTokens: 1,
            beams: 3,
          }),
        )
        // one new token: the best of 3 beams is the argmax, i.e. greedy's first token
        const g1 = runS(
          T5Decode.generateGreedy(runner, { prompt, inputIds: b.inputIds, attentionMask: b.attentionMask, maxNewTokens: 1 }),
        )
        expect(Array.from(wide.data)).toEqual(Array.from(g1.data))
        const w = runS(
          T5Decode.generateBeam(runner, {
            prompt,
            inputIds: b.inputIds,
            attentionMask: b.attentionMask,
            maxNewTokens: 4,
            beams: 3,
          }),
        )
        const len = w.shape[1]
        for (let i = 0; i < B; i++) {
          expect(w.data[i * len]).toBe(c.decoderStartId)
          for (let t = 1; t < len; t++) expect(w.data[i * len + t]).toBeLessThan(c.vocabSize)
        }
      }),
      { numRuns: 15 },
    )
  })
})
