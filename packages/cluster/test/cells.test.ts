/**
 * What travels in a cell and in a stored spec, without a database: a resolved transfer run survives
 * its cell encoding bit for bit, malformed cells and specs fail with an error naming them.
 */
import { ClusterStudy, ClusterTransfer, ClusterWork } from "@spot/cluster"
import { type HostTensor, Recipe, Similarity, Study, type Transfer } from "@spot/core"
import { Synthetic } from "@spot/experiments"
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"

const tensorArb = fc
  .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }))
  .chain(([l, d]) =>
    fc
      .float32Array({ minLength: l * d, maxLength: l * d })
      .map((data): HostTensor<"f32"> => ({ dtype: "f32", shape: [l, d], data })),
  )
const stageArb = fc.record({
  data: fc.array(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 3 }),
  init: fc.oneof(tensorArb, fc.constant("previous-stage" as const)),
})
const runArb = fc.record({ label: fc.string(), stages: fc.array(stageArb, { minLength: 1, maxLength: 3 }) })

describe("transfer cells", () => {
  it("decode(encode(run)) is the run: labels, data names and init prompts bit for bit", () => {
    fc.assert(
      fc.property(runArb, (run: Transfer.ResolvedRun) => {
        const { cell, tensors } = ClusterTransfer.encodeRun(run)
        const back = Result.getOrThrow(ClusterTransfer.decodeRun(cell, tensors, "run/0"))
        expect(back.label).toBe(run.label)
        expect(back.stages.map((s) => s.data)).toEqual(run.stages.map((s) => s.data))
        for (const [i, s] of run.stages.entries()) {
          const b = back.stages[i].init
          if (s.init === "previous-stage") expect(b).toBe("previous-stage")
          else {
            if (b === "previous-stage") throw new Error("init lost")
            expect(b.shape).toEqual(s.init.shape)
            expect(new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength)).toEqual(
              new Uint8Array(s.init.data.buffer, s.init.data.byteOffset, s.init.data.byteLength),
            )
          }
        }
      }),
    )
  })

  it("a malformed cell fails with an error naming the cell", () => {
    const cases: Array<[string | undefined, Uint8Array | undefined]> = [
      [undefined, undefined],
      ["{", undefined],
      [JSON.stringify({ label: "x", stages: [{ data: ["target"], init: 0 }] }), undefined],
      [JSON.stringify({ label: "x", stages: [{ data: [1], init: "previous-stage" }] }), undefined],
    ]
    for (const [cell, tensors] of cases) {
      const r = ClusterTransfer.decodeRun(cell, tensors, "run/7")
      expect(Result.isFailure(r)).toBe(true)
      if (Result.isFailure(r)) expect(r.failure.field).toBe("cell run/7")
    }
  })
})

describe("stored specs", () => {
  const task = Synthetic.taskNamed("movie-sentiment")
  if (!task) throw new Error("movie-sentiment")
  const train = Synthetic.generate(task, "train", 4)
  const valid = Synthetic.generate(task, "valid", 2)

  it("a study spec and a transfer spec decode by their kind, with their data", () => {
    const options = {
      ...Study.DEFAULT_STUDY,
      similarity: Similarity.similarityNamed("per-token-average-cosine") as Similarity.Similarity,
    }
    const study = ClusterStudy.encodeSpec(ClusterStudy.makeSpec(options, new Map([["movie-sentiment", { train, valid }]])))
    const s = Result.getOrThrow(ClusterWork.decodeSpec(study))
    if (s.kind !== "study") throw new Error(s.kind)
    expect(s.data.get("movie-sentiment")).toEqual({ train, valid })
    expect(Recipe.encodeRecipe(s.options.recipe)).toBe(Recipe.encodeRecipe(options.recipe))
    const o = { steps: 3, batchSize: 2, lr: 0.1, evalEvery: 1, maxSource: 8, maxTarget: 4, promptLength: 2 }
    const transfer = JSON.stringify({ kind: "transfer", options: o, seed: 3, train: { target: train }, valid })
    const t = Result.getOrThrow(ClusterWork.decodeSpec(transfer))
    if (t.kind !== "transfer") throw new Error(t.kind)
    expect(t.seed).toBe(3)
    expect(t.options).toEqual(o)
    expect(t.data.train.get("target")).toEqual(train)
    expect(t.data.valid).toEqual(valid)
  })

  it("a malformed spec fails with one error naming what is wrong", () => {
    const o = { steps: 3, promptLength: 2 }
    for (const [text, says] of [
      ["not json", "not JSON"],
      [JSON.stringify({ kind: "grid" }), "unknown kind"],
      [JSON.stringify({ kind: "transfer", options: o, seed: 0.5, train: {}, valid }), "seed"],
      [JSON.stringify({ kind: "transfer", options: o, seed: 0, train: { target: 1 }, valid }), "training sets"],
      [JSON.stringify({ kind: "transfer", options: o, seed: 0, train: {} }), "validation set"],
      [JSON.stringify({ kind: "study", options: { similarity: "nope" }, data: {} }), "unknown similarity"],
    ] as const) {
      const r = ClusterWork.decodeSpec(text)
      expect(Result.isFailure(r)).toBe(true)
      if (Result.isFailure(r)) expect(r.failure.message).toContain(says)
    }
  })
})
