/**
 * The backend conformance suite: every op, forward and VJP, on random shapes and values, the
 * graph/weight/feed checks every backend gets from `Backend.make`, and the T5 parity fixtures,
 * against the reference interpreter. Each backend's tests call it with its Layer, which is built
 * once for the file (so a device backend keeps its pipelines) and released after the last test.
 * Third parties get it from `@spot/core/testing` (the parity part reads fixture folders through
 * `@effect/platform-node`, loaded only when it runs: pass `parity: false` elsewhere, or
 * `fixtures: <folder holding hf-t5-parity/>` to use your own copy of the fixtures).
 */
import { Autodiff, Backend, type HostTensor, IR, Parity } from "@spot/core"
import { Effect, type Layer, ManagedRuntime, Result } from "effect"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import type { Node } from "../src/graph/ir.ts"
import { CASES, type Case } from "./cases.ts"
import { checksSuite } from "./checks.ts"
import { FIXTURES, fixtureDir } from "./fixtures.ts"
import { maxRelErr, randomTensor, run } from "./util.ts"

/** Forward value and every gradient of a case, as one graph. */
const caseGraph = (c: Case) => {
  const nodes: Record<string, Node> = {}
  for (const [k, t] of Object.entries(c.wrt)) nodes[k] = IR.input(k, t.shape)
  for (const [k, t] of Object.entries(c.fixed ?? {})) nodes[k] = IR.input(k, t.shape, t.dtype === "f32" ? "f32" : "i32")
  const y = c.build(nodes)
  const W = randomTensor(y.shape, 77)
  const loss = IR.sum(IR.mul(y, IR.input("W", y.shape)))
  const names = Object.keys(c.wrt)
  const grads = Result.getOrThrow(
    Autodiff.grad(
      loss,
      names.map((n) => nodes[n]),
    ),
  )
  const outputs: Record<string, Node> = { y, loss }
  grads.forEach((g, i) => {
    outputs[`d_${names[i]}`] = g
  })
  return { graph: { outputs }, feeds: { ...c.wrt, ...c.fixed, W } as Record<string, HostTensor> }
}

export const conformanceSuite = (
  name: string,
  layer: Layer.Layer<Backend, unknown>,
  options: { runs?: number; parity?: boolean; fixtures?: string } = {},
) => {
  const runtime = ManagedRuntime.make(layer)
  afterAll(() => runtime.dispose())
  const onBackend = <A, E>(e: Effect.Effect<A, E, Backend>) => runtime.runPromise(e)
  describe(`${name}: every op, forward and VJP, equals the reference interpreter`, () => {
    for (const [kind, arb] of Object.entries(CASES)) {
      it(kind, async () => {
        await fc.assert(
          fc.asyncProperty(arb, async (c) => {
            const { graph, feeds } = caseGraph(c)
            const want = run(graph, feeds)
            const got = await onBackend(
              Effect.gen(function* () {
                const backend = yield* Backend
                const session = yield* backend.compile(graph, new Map())
                const out = yield* session.run(feeds)
                yield* session.dispose
                return out
              }),
            )
            for (const [k, w] of Object.entries(want)) {
              expect(got[k].shape).toEqual(w.shape)
              const scale = Math.max(1, ...Array.from(w.data as Float32Array, Math.abs))
              expect(maxRelErr(got[k].data as Float32Array, w.data as Float32Array, scale)).toBeLessThan(1e-5)
            }
          }),
          { numRuns: options.runs ?? 15 },
        )
      })
    }
  })
  checksSuite(name, (e) => runtime.runPromise(Effect.result(e)), options.runs ?? 15)
  if (options.parity !== false) {
    describe(`${name}: parity with transformers`, () => {
      for (const fixture of FIXTURES) {
        it(fixture, async () => {
          const { NodeServices } = await import("@effect/platform-node")
          const dir = options.fixtures ? `${options.fixtures}/hf-t5-parity/${fixture}` : fixtureDir(fixture)
          const report = await onBackend(Parity.runParity(dir).pipe(Effect.provide(NodeServices.layer)))
          expect(report).toMatchObject({ generation_exact: true, pass: true })
          expect(report.grad_cosine).toBeGreaterThan(0.9999)
          expect(report.loss_rel_err).toBeLessThan(1e-4)
        })
      }
    })
  }
}
