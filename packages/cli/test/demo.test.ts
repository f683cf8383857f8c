/**
 * `spot demo` (the main job) on a budget small enough for CI: the JSON contract, the library it
 * writes, the report file. Its full-size result (generic and targeted SPoT against prompt tuning)
 * is measured in docs/benchmarks.md, not here.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { expect, it } from "vitest"
import { ROOT, spot, tempDir } from "./helpers.ts"

it("spot demo --json: every target scored for each init, means, the library and the report", async () => {
  const out = tempDir()
  const r = await spot(["demo", "--seeds", "0", "--source-steps", "4", "--target-steps", "2", "--out", out, "--json"])
  expect(r.code).toBe(0)
  // progress events stream as JSON lines first; the result is the last line
  const report = JSON.parse(r.stdout.trim().split("\n").pop() as string)
  expect(report.targets.map((t: { name: string }) => t.name)).toEqual([
    "food-sentiment",
    "post-mood",
    "color-topic",
    "word-overlap",
  ])
  for (const t of report.targets) {
    for (const k of ["random", "spot", "best_of_top_k", "top_k_weighted_average"]) {
      expect(t[k].seeds).toHaveLength(1)
      expect(t[k].mean).toBeGreaterThanOrEqual(0)
      expect(t[k].mean).toBeLessThanOrEqual(1)
    }
  }
  const mean = (k: string) => report.targets.reduce((a: number, t: Record<string, { mean: number }>) => a + t[k].mean, 0) / 4
  expect(report.mean_random).toBeCloseTo(mean("random"), 10)
  expect(report.mean_spot).toBeCloseTo(mean("spot"), 10)
  expect(report.seconds).toBeGreaterThan(0)
  expect(report.mixture).toEqual(report.sources)
  const listed = await spot(["library", "list", "--library", report.library, "--json"])
  expect(
    JSON.parse(listed.stdout)
      .entries.map((e: { name: string }) => e.name)
      .sort(),
  ).toEqual([...report.sources].sort())
  expect(existsSync(join(out, "report.json"))).toBe(true)
  expect(JSON.parse(readFileSync(join(out, "report.json"), "utf8")).mean_spot).toBe(report.mean_spot)
}, 300_000)

it("spot demo refuses a mixture that is not a subset of the sources, naming the flag", async () => {
  const r = await spot(["demo", "--mixture", "movie-sentiment,nonsense", "--out", tempDir()])
  expect(r.code).not.toBe(0)
  expect(r.stderr).toContain("--mixture")
  expect(r.stderr).toContain("nonsense")
})

it("spot demo --quick: the smoke-size run (two sources, one target, one seed) with the shipped model", async () => {
  const out = tempDir()
  const r = await spot(["demo", "--quick", "--out", out, "--json"])
  expect(r.code).toBe(0)
  const report = JSON.parse(r.stdout.trim().split("\n").pop() as string)
  expect(report.sources).toEqual(["movie-sentiment", "animal-topic"])
  expect(report.targets.map((t: { name: string }) => t.name)).toEqual(["food-sentiment"])
  expect(report.seeds).toEqual([0])
  expect(report.options.sourceSteps).toBe(3)
  expect(report.model).toBe(join(ROOT, "packages/experiments/models/micro-t5"))
}, 120_000)
