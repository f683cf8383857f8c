/**
 * The official code's optimizer, initialisations, schedules, embedding recipes and the paper's
 * similarity/transfer correlation. Expected values are computed here independently: Adafactor by
 * plain loops over 2-D arrays from t5x's formulas, p-values from scipy and Student-t tables.
 */
import { type HostTensor, Init, Optim, Recipe, Stats, Study, type T5Model, type Tokenizer } from "@spot/core"
import { Effect, Exit, Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { randomTensor } from "./util.ts"

/** t5x `apply_param_gradient` for one rank-2 parameter, written out over rows and columns (no momentum, no parameter scaling). */
const t5xReference = (
  p: number[][],
  grads: number[][][],
  lr: number,
  o: { decay: number; eps1: number; clip: number; wd: number; minDim: number },
) => {
  const [R, C] = [p.length, p[0].length]
  // t5x's _factored_dims: argsort(shape); factored iff shape[second largest] >= min_dim_size_to_factor;
  // d0 = the largest axis (v_row averages over it), d1 = the second largest
  const d0 = C >= R ? 1 : 0
  const d1 = 1 - d0
  const factored = [R, C][d1] >= o.minDim
  let vRow: number[] = new Array([R, C][d1]).fill(0)
  let vCol: number[] = new Array([R, C][d0]).fill(0)
  let v: number[][] = p.map((r) => r.map(() => 0))
  let param = p.map((r) => [...r])
  grads.forEach((g, step) => {
    const decay = 1 - (step + 1) ** -o.decay
    const mixing = 1 - decay
    const sq = g.map((r) => r.map((x) => x * x + o.eps1))
    let y: number[][]
    if (factored) {
      // mean of grad_sqr over d0 (indexed by the d1 axis) and over d1 (indexed by the d0 axis)
      const meanOverD0 = vRow.map((_, k) => {
        let s = 0
        for (let m = 0; m < [R, C][d0]; m++) s += d0 === 1 ? sq[k][m] : sq[m][k]
        return s / [R, C][d0]
      })
      const meanOverD1 = vCol.map((_, k) => {
        let s = 0
        for (let m = 0; m < [R, C][d1]; m++) s += d1 === 0 ? sq[m][k] : sq[k][m]
        return s / [R, C][d1]
      })
      vRow = vRow.map((x, k) => decay * x + mixing * meanOverD0[k])
      vCol = vCol.map((x, k) => decay * x + mixing * meanOverD1[k])
      const rowColMean = vRow.reduce((a, b) => a + b, 0) / vRow.length
      y = g.map((r, i) =>
        r.map((x, j) => {
          const [k1, k0] = d1 === 0 ? [i, j] : [j, i]
          return x * (vRow[k1] / rowColMean) ** -0.5 * vCol[k0] ** -0.5
        }),
      )
    } else {
      v = v.map((r, i) => r.map((x, j) => decay * x + mixing * sq[i][j]))
      y = g.map((r, i) => r.map((x, j) => x * v[i][j] ** -0.5))
    }
    let ms = 0
    for (const r of y) for (const x of r) ms += x * x
    const denom = Math.max(1, Math.sqrt(ms / (R * C)) / o.clip)
    param = param.map((r, i) => r.map((x, j) => (1 - o.wd) * x - (lr * y[i][j]) / denom))
  })
  return { param, factored }
}

const rows = (t: HostTensor<"f32">) =>
  Array.from({ length: t.shape[0] }, (_, i) => Array.from(t.data.subarray(i * t.shape[1], (i + 1) * t.shape[1])))

describe("Adafactor as t5x with the prompt-tuning gin settings", () => {
  const gin = { decay: 0.8, eps1: 1e-30, clip: 1, wd: 1e-5, minDim: 128 }
  for (const shape of [
    [100, 128],
    [128, 200],
    [300, 128],
    [20, 128],
  ] as const) {
    it(`[${shape}] matches t5x's formulas over three steps`, () => {
      const p = randomTensor(shape, 1)
      const gs = [randomTensor(shape, 2, -3, 3), randomTensor(shape, 3, -0.01, 0.01), randomTensor(shape, 4)]
      const opt = Optim.adafactor()
      let st = opt.init(p)
      let q = p
      for (const g of gs) {
        const r = opt.update(st, q, g, 0.3)
        st = r.state
        q = r.param
      }
      const ref = t5xReference(
        rows(p),
        gs.map((g) => rows(g)),
        0.3,
        gin,
      )
      expect(ref.factored).toBe(Math.min(...shape) >= 128)
      expect(Object.keys(st.slots).sort()).toEqual(ref.factored ? ["col", "row"] : ["v"])
      const got = rows(q)
      for (let i = 0; i < shape[0]; i++)
        for (let j = 0; j < shape[1]; j++) expect(got[i][j]).toBeCloseTo(Math.fround(ref.param[i][j]), 5)
    })
  }
  it("a 100 × d prompt keeps a full second moment; a 128 × 256 matrix is factored", () => {
    expect(Optim.factorAxes([100, 4096])).toBeUndefined()
    expect(Optim.factorAxes([128, 256])).toEqual({ row: 0, col: 1 })
    expect(Optim.factorAxes([512, 128])).toEqual({ row: 1, col: 0 })
    expect(Optim.factorAxes([4096])).toBeUndefined()
  })
  it("a hand-computed first and second step", () => {
    const opt = Optim.adafactor()
    const p: HostTensor<"f32"> = { dtype: "f32", shape: [2], data: Float32Array.from([1, 1]) }
    const s1 = opt.update(opt.init(p), p, { dtype: "f32", shape: [2], data: Float32Array.from([3, 4]) }, 0.3)
    // step 1: decay 1 − 1^−0.8 = 0, v = g², y = g/|g| = (1, 1), RMS 1 → no clipping: (1 − 1e-5)·1 − 0.3
    expect(s1.param.data[0]).toBeCloseTo(0.69999, 6)
    expect(s1.param.data[1]).toBeCloseTo(0.69999, 6)
    const s2 = opt.update(s1.state, s1.param, { dtype: "f32", shape: [2], data: Float32Array.from([1, 0]) }, 0.3)
    // step 2: decay = 1 − 2^−0.8; v0 = decay·9 + (1 − decay)·1, y0 = 1/√v0; v1 = decay·16, y1 = 0; RMS < 1
    const decay = 1 - 2 ** -0.8
    const y0 = 1 / Math.sqrt(decay * 9 + (1 - decay))
    expect(s2.param.data[0]).toBeCloseTo((1 - 1e-5) * Math.fround(0.69999) - 0.3 * y0, 6)
    expect(s2.param.data[1]).toBeCloseTo((1 - 1e-5) * Math.fround(0.69999), 6)
  })
  it("weight decay is (1 − wd)·p, independent of the lr", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.double({ min: 1e-3, max: 1, noNaN: true }), (seed, lr) => {
        const p = randomTensor([3, 5], seed)
        const opt = Optim.adafactor({ weightDecay: 0.1 })
        const r = opt.update(opt.init(p), p, { ...p, data: new Float32Array(15) }, lr)
        for (let i = 0; i < 15; i++) expect(r.param.data[i]).toBe(Math.fround(0.9 * p.data[i]))
      }),
    )
  })
})

const fakeModel = (vocab: number, d: number): T5Model =>
  ({
    config: { dModel: d, vocabSize: vocab },
    // row i is filled with i, so that a prompt row names the id it was drawn from
    weights: new Map([
      [
        "shared.weight",
        { dtype: "f32", shape: [vocab, d], data: Float32Array.from({ length: vocab * d }, (_, k) => Math.floor(k / d)) },
      ],
    ]),
  }) as unknown as T5Model

const spTok = (vocab: number): Tokenizer => ({
  kind: "hf",
  vocabSize: vocab,
  padId: 0,
  eosId: 1,
  unkId: 2,
  encode: (text) => [...text.split(" ").map((w) => 10 + w.length), 1],
  decode: () => "",
  specialIds: new Set([0, 1, 2]),
})

describe("initialisations of the official code", () => {
  it("vocabulary sampling: without replacement, from the first 5,000 ids", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40000 }), fc.integer({ min: 1, max: 300 }), fc.nat(1000), (vocab, L, seed) => {
        const n = Init.populationSize(spTok(vocab), vocab)
        expect(n).toBe(Math.min(vocab, 5000))
        const ids = Init.sampleWithoutReplacement(n, L, seed)
        expect(ids.length).toBe(L)
        for (const id of ids) expect(id >= 0 && id < n && Number.isInteger(id)).toBe(true)
        // distinct within each block of n (all distinct when L ≤ n)
        for (let b = 0; b < L; b += n) expect(new Set(ids.slice(b, b + n)).size).toBe(Math.min(n, L - b))
      }),
    )
  })
  it("fromVocab's rows are distinct vocabulary rows below 5,000", () => {
    const model = fakeModel(6000, 4)
    const p = Init.fromVocab(model, spTok(6000), 100, 7)
    const ids = Array.from({ length: 100 }, (_, i) => p.data[i * 4])
    expect(new Set(ids).size).toBe(100)
    for (const id of ids) expect(id).toBeLessThan(5000)
    expect(Init.fromVocab(model, spTok(6000), 100, 7).data).toEqual(p.data)
  })
  it("text init fills the first rows and samples the rest; repeat-to-fill as PEFT", () => {
    const model = fakeModel(6000, 4)
    const tok = spTok(6000)
    const filled = Result.getOrThrow(Init.fromText(model, tok, 10, "ab cde f", { seed: 3 }))
    const rest = Init.fromVocab(model, tok, 10, 3)
    expect([0, 1, 2].map((i) => filled.data[i * 4])).toEqual([12, 13, 11])
    expect(filled.data.subarray(12)).toEqual(rest.data.subarray(12))
    const repeated = Result.getOrThrow(Init.fromText(model, tok, 7, "ab cde f", { fill: "repeat" }))
    expect(Array.from({ length: 7 }, (_, i) => repeated.data[i * 4])).toEqual([12, 13, 11, 12, 13, 11, 12])
    const tooLong = Init.fromText(model, tok, 2, "ab cde f")
    expect(Result.isFailure(tooLong) && tooLong.failure.field).toBe("init text")
  })
})

describe("learning-rate schedules", () => {
  const kinds = fc.constantFrom(...Optim.SCHEDULES)
  it("start at lr·1/warmup, reach lr at the end of warmup, stay in [0, lr], rise then fall", () => {
    fc.assert(
      fc.property(
        kinds,
        fc.double({ min: 1e-4, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 50 }),
        fc.integer({ min: 1, max: 200 }),
        (kind, lr, warmup, extra) => {
          const total = warmup + extra
          const s = Optim.scheduleOf(kind, lr, warmup, total)
          const at = (t: number) => Optim.lrAt(s, t)
          if (kind !== "constant" && warmup > 0) {
            expect(at(1)).toBeCloseTo(lr / warmup, 10)
            expect(at(warmup)).toBeCloseTo(lr, 10)
          }
          for (let t = 1; t <= total; t++) {
            expect(at(t)).toBeGreaterThanOrEqual(0)
            expect(at(t)).toBeLessThanOrEqual(lr * (1 + 1e-12))
            if (t > 1 && kind !== "constant") {
              if (t <= warmup) expect(at(t)).toBeGreaterThanOrEqual(at(t - 1))
              else if (t > warmup + 1) expect(at(t)).toBeLessThanOrEqual(at(t - 1) * (1 + 1e-12))
            }
          }
          if (kind === "linear" || kind === "cosine") expect(at(total)).toBeCloseTo(extra === 0 ? lr : 0, 10)
          if (kind === "constant" || kind === "warmup") expect(at(total)).toBeCloseTo(lr, 12)
          if (kind === "inverse-sqrt") expect(at(total)).toBeCloseTo(lr * Math.sqrt(Math.max(1, warmup) / Math.max(total, 1)), 10)
        },
      ),
    )
  })
})

describe("similarity–transfer correlation", () => {
  it("p-values equal scipy.stats.pearsonr's and Student-t table values", () => {
    // python3 -c "from scipy import stats; print(stats.pearsonr([1,2,3,4,5],[2,4,5,4,5]))"  → r 0.7745966692414834, p 0.1240270626575546
    const a = Stats.pearsonTest([1, 2, 3, 4, 5], [2, 4, 5, 4, 5])
    expect(a.r).toBeCloseTo(0.7745966692414834, 12)
    expect(a.p).toBeCloseTo(0.1240270626575546, 10)
    // stats.pearsonr([0.1,0.4,0.35,0.8,0.6,0.9,0.2],[1.5,2.0,1.7,3.1,2.2,3.5,1.9]) → 0.9438974613735366, 0.0013890917783054083
    const b = Stats.pearsonTest([0.1, 0.4, 0.35, 0.8, 0.6, 0.9, 0.2], [1.5, 2.0, 1.7, 3.1, 2.2, 3.5, 1.9])
    expect(b.r).toBeCloseTo(0.9438974613735366, 12)
    expect(b.p).toBeCloseTo(0.0013890917783054083, 12)
    // stats.pearsonr(range 1..10, [10,9,2,8,7,3,6,1,5,4]) → −0.5878787878787877, 0.07387770688865815
    const c = Stats.pearsonTest([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 2, 8, 7, 3, 6, 1, 5, 4])
    expect(c.r).toBeCloseTo(-0.5878787878787877, 12)
    expect(c.p).toBeCloseTo(0.07387770688865815, 10)
    // two-sided 5 % critical values of Student's t (textbook tables): df 10 → 2.228, df 20 → 2.086
    expect(Stats.studentTwoSided(2.228, 10)).toBeCloseTo(0.05, 3)
    expect(Stats.studentTwoSided(2.086, 20)).toBeCloseTo(0.05, 3)
  })
  it("one point per source prompt, averaged over target seeds", () => {
    const prompts = [
      ["a", 0],
      ["a", 1],
      ["b", 0],
      ["c", 0],
    ] as const
    // similarity and gain per (target seed, source prompt); the points are their means over the seeds
    const sim = (_t: string, seed: number, s: string, cs: number) => s.charCodeAt(0) / 100 + cs / 10 + seed / 50
    const gain = (_t: string, seed: number, s: string, cs: number) => (s === "b" ? 0.5 : 0.1 * cs) + (seed === 0 ? 0.2 : -0.1)
    const [r] = Study.correlationPerSourcePrompt(["t"], [0, 1], prompts, sim, gain)
    const xs = prompts.map(([s, cs]) => (sim("t", 0, s, cs) + sim("t", 1, s, cs)) / 2)
    const ys = prompts.map(([s, cs]) => (gain("t", 0, s, cs) + gain("t", 1, s, cs)) / 2)
    expect(r).toEqual(Stats.pearsonTest(xs, ys))
    expect(r.n).toBe(4)
  })
})

describe("task-embedding recipes", () => {
  const paper = Recipe.earlyCheckpoint({ steps: 10, lr: 0.3, batch: 32 })
  const uniform = Recipe.uniformInit({ steps: 10, lr: 0.3, batch: 32 })
  const holder = (r: Recipe.EmbeddingRecipe | undefined): Recipe.RecipeHolder => ({
    name: "rte",
    seeds: [{ seed: 0, embedding: true, provenance: r ? { [Recipe.PROVENANCE_KEY]: Recipe.encodeRecipe(r) } : {} }],
  })
  it("round-trips through its canonical text", () => {
    for (const r of [paper, uniform]) expect(Result.getOrThrow(Recipe.decodeRecipe(Recipe.encodeRecipe(r), "x"))).toEqual(r)
    const bad = Recipe.decodeRecipe('{"kind":"early-checkpoint","steps":0}', "spec.json recipe")
    expect(Result.isFailure(bad) && bad.failure.field).toBe("spec.json recipe")
  })
  it("retrieval refuses embeddings of another recipe, naming both, unless opted in", () => {
    const exit = Effect.runSyncExit(Recipe.checkRecipes(paper, "the target", [holder(uniform)]))
    expect(Exit.isFailure(exit)).toBe(true)
    const msg = JSON.stringify(exit)
    expect(msg).toContain("RecipeMismatch")
    expect(msg).toContain(Recipe.showRecipe(paper))
    expect(msg).toContain(Recipe.showRecipe(uniform))
    expect(msg).toContain("rte#0")
    expect(Exit.isFailure(Effect.runSyncExit(Recipe.checkRecipes(paper, "the target", [holder(undefined)])))).toBe(true)
    expect(Exit.isSuccess(Effect.runSyncExit(Recipe.checkRecipes(paper, "the target", [holder(uniform)], true)))).toBe(true)
    expect(Exit.isSuccess(Effect.runSyncExit(Recipe.checkRecipes(paper, "the target", [holder(paper)])))).toBe(true)
    // a seed without an embedding is no candidate, so its (missing) recipe does not matter
    const noEmbedding = { name: "x", seeds: [{ seed: 0, provenance: {} }] }
    expect(Exit.isSuccess(Effect.runSyncExit(Recipe.checkRecipes(paper, "the target", [noEmbedding])))).toBe(true)
  })
})
