import { Metrics } from "@spot/core"
import { describe, expect, it } from "vitest"

describe("metrics against hand-computed cases", () => {
  it("accuracy, F1, Matthews", () => {
    const gold = ["y", "y", "n", "n", "y"]
    const pred = ["y", "n", "n", "y", "y"]
    expect(Metrics.accuracy(pred, gold)).toBeCloseTo(3 / 5)
    // tp 2, fp 1, fn 1 → F1 = 4/6
    expect(Metrics.f1(pred, gold, "y")).toBeCloseTo(4 / 6)
    // tn 1 → MCC = (2·1 − 1·1)/sqrt(3·3·2·2) = 1/6
    expect(Metrics.matthews(pred, gold, "y")).toBeCloseTo(1 / 6)
    expect(Metrics.macroF1(pred, gold)).toBeCloseTo((4 / 6 + 0.5) / 2)
  })
  it("Pearson, Spearman with ties, exact match, relative error reduction, mean ± std", () => {
    expect(Metrics.pearson([1, 2, 3], [2, 4, 6])).toBeCloseTo(1)
    expect(Metrics.pearson([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1)
    expect(Metrics.ranks([10, 20, 20, 5])).toEqual([2, 3.5, 3.5, 1])
    expect(Metrics.spearman([1, 2, 3, 4], [1, 4, 9, 16])).toBeCloseTo(1)
    expect(Metrics.exactMatch([" a  b", "c"], ["a b", "d"])).toBe(0.5)
    expect(Metrics.relativeErrorReduction(0.8, 0.9)).toBeCloseTo(0.5)
    const ms = Metrics.meanStd([1, 2, 3])
    expect(ms.mean).toBe(2)
    expect(ms.std).toBeCloseTo(1)
  })
})
