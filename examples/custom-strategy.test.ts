/** The custom strategy passes the same law suite as the built-in ones, plus its own law. */

import { library, query, strategyLaws } from "@spot/core/testing"
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { bestOfTopKTasks } from "./custom-strategy.ts"

describe("custom strategy: best of top-k distinct tasks", () => {
  strategyLaws(bestOfTopKTasks)
  it("never spends two runs on one task", () => {
    fc.assert(
      fc.property(
        library,
        fc.integer({ min: 1, max: 6 }).chain((k) => query(k)),
        (lib, q) => {
          const r = bestOfTopKTasks.plan(lib, q)
          fc.pre(Result.isSuccess(r))
          const tasks = Result.getOrThrow(r).runs.map((run) => run.label.split("#")[0])
          expect(new Set(tasks).size).toBe(tasks.length)
        },
      ),
      { numRuns: 200 },
    )
  })
})
