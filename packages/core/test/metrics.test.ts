/** Laws of the evaluation metrics (fast-check), beside the hand-computed cases in benchmarks.test.ts. */
import { Benchmarks, Metrics, T5Formats } from "@spot/core"
import fc from "fast-check"
import { describe, expect, it } from "vitest"

const pairs = (values: fc.Arbitrary<number>, min = 1) =>
  fc
    .integer({ min, max: 30 })
    .chain((n) => fc.tuple(fc.array(values, { minLength: n, maxLength: n }), fc.array(values, { minLength: n, maxLength: n })))
const classes = fc.integer({ min: -1, max: 2 })
const reals = fc.integer({ min: -1000, max: 1000 }).map((v) => v / 10)
const words = fc
  .array(fc.constantFrom("a", "the", "Bob", "bob", "ran", "x,", "New", "york", "!"), { maxLength: 6 })
  .map((w) => w.join(" "))

describe("metric laws", () => {
  it("binary F1 lies in [0, 1] and is symmetric in prediction and gold", () => {
    fc.assert(
      fc.property(pairs(classes), ([p, g]) => {
        const a = Metrics.f1(p, g, 1)
        expect(a).toBeGreaterThanOrEqual(0)
        expect(a).toBeLessThanOrEqual(1)
        expect(Metrics.f1(g, p, 1)).toBeCloseTo(a, 12)
      }),
    )
  })
  it("F1 with invalid outputs never exceeds F1 with those outputs replaced by the gold label", () => {
    fc.assert(
      fc.property(pairs(fc.integer({ min: 0, max: 1 })), fc.array(fc.boolean()), ([p, g], flips) => {
        const broken = p.map((x, i) => (flips[i] ? -1 : x))
        const fixed = p.map((x, i) => (flips[i] ? g[i] : x))
        expect(Metrics.f1WithInvalid(broken, g)).toBeLessThanOrEqual(Metrics.f1WithInvalid(fixed, g) + 1e-12)
      }),
    )
  })
  it("Matthews lies in [-1, 1], is symmetric, invariant under renaming classes, and the binary MCC on two classes", () => {
    const rename = (x: number) => ["p", "q", "r", "s"][x + 1]
    fc.assert(
      fc.property(pairs(classes), ([p, g]) => {
        const m = Metrics.matthewsMulticlass(p, g)
        expect(m).toBeGreaterThanOrEqual(-1)
        expect(m).toBeLessThanOrEqual(1)
        expect(Metrics.matthewsMulticlass(g, p)).toBeCloseTo(m, 12)
        expect(Metrics.matthewsMulticlass(p.map(rename), g.map(rename))).toBeCloseTo(m, 12)
      }),
    )
    fc.assert(
      fc.property(pairs(fc.integer({ min: 0, max: 1 })), ([p, g]) => {
        expect(Metrics.matthewsMulticlass(p, g)).toBeCloseTo(Metrics.matthews(p, g, 1), 12)
      }),
    )
  })
  it("a perfect prediction scores 1 on every classification metric (when gold is not constant)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 2, maxLength: 30 }), (g) => {
        fc.pre(new Set(g).size > 1 && g.includes(1))
        expect(Metrics.accuracy(g, g)).toBe(1)
        expect(Metrics.matthewsMulticlass(g, g)).toBeCloseTo(1, 12)
        expect(Metrics.macroF1(g, g)).toBeCloseTo(1, 12)
        expect(Metrics.f1(g, g, 1)).toBe(1)
      }),
    )
  })
  it("macro F1 and accuracy do not depend on the order of examples", () => {
    fc.assert(
      fc.property(pairs(classes, 2), fc.integer({ min: 1, max: 29 }), ([p, g], k) => {
        const rot = <T>(xs: T[]) => [...xs.slice(k % xs.length), ...xs.slice(0, k % xs.length)]
        expect(Metrics.macroF1(rot(p), rot(g), [0, 1, 2])).toBeCloseTo(Metrics.macroF1(p, g, [0, 1, 2]), 12)
        expect(Metrics.accuracy(rot(p), rot(g))).toBeCloseTo(Metrics.accuracy(p, g), 12)
      }),
    )
  })
  it("grouped exact match over one-example groups is accuracy, and never exceeds it otherwise", () => {
    fc.assert(
      fc.property(pairs(classes), fc.integer({ min: 1, max: 4 }), ([p, g], size) => {
        expect(
          Metrics.groupExactMatch(
            p.map((_, i) => String(i)),
            p,
            g,
          ),
        ).toBeCloseTo(Metrics.accuracy(p, g), 12)
        // with groups of equal size, each right group brings `size` right examples
        const groups = p.map((_, i) => String(Math.floor(i / size)))
        if (p.length % size === 0)
          expect(Metrics.groupExactMatch(groups, p, g)).toBeLessThanOrEqual(Metrics.accuracy(p, g) + 1e-12)
      }),
    )
  })
  it("Pearson: in [-1, 1], symmetric, invariant under positive affine maps; Spearman: Pearson of the ranks, invariant under increasing maps", () => {
    fc.assert(
      fc.property(
        pairs(reals, 3),
        fc.double({ min: 0.1, max: 10, noNaN: true }),
        fc.double({ min: -5, max: 5, noNaN: true }),
        ([x, y], a, b) => {
          const r = Metrics.pearson(x, y)
          expect(r).toBeGreaterThanOrEqual(-1 - 1e-9)
          expect(r).toBeLessThanOrEqual(1 + 1e-9)
          expect(Metrics.pearson(y, x)).toBeCloseTo(r, 9)
          const xs = x.map((v) => a * v + b)
          if (new Set(x).size > 1 && new Set(xs).size > 1) expect(Metrics.pearson(xs, y)).toBeCloseTo(r, 6)
          const s = Metrics.spearman(x, y)
          expect(s).toBeCloseTo(Metrics.pearson(Metrics.ranks(x), Metrics.ranks(y)), 12)
          expect(
            Metrics.spearman(
              x.map((v) => v ** 3 + v),
              y,
            ),
          ).toBeCloseTo(s, 9)
        },
      ),
    )
  })
  it("SQuAD: token F1 is symmetric and in [0, 1]; exact match ≤ F1; both unchanged by case, punctuation and articles", () => {
    fc.assert(
      fc.property(words, words, (a, b) => {
        const na = Metrics.normalizeSquad(a)
        const nb = Metrics.normalizeSquad(b)
        const f = Metrics.tokenF1(na, nb)
        expect(f).toBeGreaterThanOrEqual(0)
        expect(f).toBeLessThanOrEqual(1)
        expect(Metrics.tokenF1(nb, na)).toBeCloseTo(f, 12)
        const s = Metrics.squad([[a]], [b])
        // (two empty strings match exactly but share no token: T5's F1 is 0 there)
        if (na !== "") expect(s.em).toBeLessThanOrEqual(s.f1 + 1e-12)
        const noisy = `The ${b.toUpperCase()}!`
        expect(Metrics.squad([[a]], [noisy])).toEqual(Metrics.squad([[a]], [b]))
      }),
    )
  })
  it("SQuAD takes the best answer: adding answers never lowers a score", () => {
    fc.assert(
      fc.property(fc.array(words, { minLength: 1, maxLength: 3 }), words, words, (answers, extra, p) => {
        const one = Metrics.squad([answers], [p])
        const more = Metrics.squad([[...answers, extra]], [p])
        expect(more.em).toBeGreaterThanOrEqual(one.em)
        expect(more.f1).toBeGreaterThanOrEqual(one.f1 - 1e-12)
      }),
    )
  })
  it("normalisation: removes articles only as whole words", () => {
    expect(Metrics.normalizeSquad("The  Quick, brown fox!")).toBe("quick brown fox")
    expect(Metrics.normalizeSquad("theatre an apple")).toBe("theatre apple")
    expect(Metrics.normalizeSquad("éthe a")).toBe("éthe")
  })
  it("STS-B targets: one of the 26 multiples of 0.2, within 0.1 of the label", () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 5, noNaN: true }), (label) => {
        const t = T5Formats.stsbTarget(label)
        expect(t).toMatch(/^[0-5]\.[02468]$/)
        expect(Math.abs(Number(t) - label)).toBeLessThanOrEqual(0.1 + 1e-6)
      }),
    )
  })
  it("the task score is the mean of the metrics; Benchmarks re-exports it", () => {
    expect(Metrics.taskScore({ f1: 0.9, accuracy: 0.8, x: Number.NaN })).toBeCloseTo(0.85)
    expect(Benchmarks.taskScore).toBe(Metrics.taskScore)
  })
})
