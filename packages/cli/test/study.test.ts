/**
 * `spot study` on a small grid of the generated suite through the built CLI, resumed, and its
 * report opened in headless Chromium: it renders without console errors and has one heatmap cell
 * per (source, target) pair in each of its two heatmaps.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { chromium } from "playwright-core"
import { describe, expect, it } from "vitest"
import { spot, tempDir } from "./helpers.ts"

const CHROMIUM = "/usr/bin/chromium"

describe("spot study and its report", () => {
  it("runs a small grid, resumes without recomputing, and writes every output", async () => {
    const out = join(tempDir(), "study")
    const args = [
      "study",
      "--out",
      out,
      "--sources",
      "movie-sentiment,animal-topic",
      "--targets",
      "food-sentiment,color-topic",
      "--seeds",
      "0",
      "--source-steps",
      "8",
      "--target-steps",
      "4",
      "--train-examples",
      "64",
      "--workers",
      "2",
      "--json",
    ]
    const first = await spot(args, 600_000)
    expect(first.stderr).toBe("")
    expect(first.code).toBe(0)
    const r = JSON.parse(first.stdout.trim().split("\n").pop() as string)
    expect(r.cells).toBe(2 + 2 + 2 + 2 + 4) // sources, baselines, their embeddings, transfers
    expect(r.rer).toHaveLength(2)
    expect(r.rer[0]).toHaveLength(2)
    expect(r.summary.map((s: { k: number }) => s.k)).toEqual([1, 3, 6, 9, 12, 15])
    expect(r.summary[0].search_space_skipped).toBeCloseTo(0.5)
    for (const c of r.correlation) expect(c.p).toBeGreaterThanOrEqual(0)
    for (const f of [
      "study.json",
      "rer.csv",
      "similarity.csv",
      "correlation.csv",
      "summary.csv",
      "rer.svg",
      "similarity.svg",
      "report.html",
    ]) {
      expect(existsSync(join(out, f))).toBe(true)
    }
    expect(readFileSync(join(out, "rer.csv"), "utf8").trim().split("\n")).toHaveLength(3)
    const again = await spot(args, 600_000)
    const r2 = JSON.parse(again.stdout.trim().split("\n").pop() as string)
    expect(r2.cells).toBe(0)
    expect(r2.rer).toEqual(r.rer)
    expect(readdirSync(join(out, "cells"))).toHaveLength(12)
  }, 900_000)

  it.runIf(existsSync(CHROMIUM))(
    "the HTML report renders in Chromium with one cell per source/target pair",
    async () => {
      const out = join(tempDir(), "study")
      const res = await spot(
        [
          "study",
          "--out",
          out,
          "--sources",
          "movie-sentiment,animal-topic,short-long",
          "--targets",
          "food-sentiment,color-topic",
          "--seeds",
          "0",
          "--source-steps",
          "4",
          "--target-steps",
          "2",
          "--train-examples",
          "32",
          "--json",
        ],
        600_000,
      )
      expect(res.code).toBe(0)
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          "--headless=new",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-background-networking",
          "--disable-component-update",
          "--no-first-run",
        ],
      })
      try {
        const page = await browser.newPage()
        const errors: string[] = []
        page.on("console", (m) => {
          if (m.type() === "error") errors.push(m.text())
        })
        page.on("pageerror", (e) => errors.push(String(e)))
        await page.goto(`file://${join(out, "report.html")}`)
        expect(await page.locator("#rer rect.cell").count()).toBe(3 * 2)
        expect(await page.locator("#similarity rect.cell").count()).toBe(3 * 2)
        const pairs = await page
          .locator("#rer rect.cell")
          .evaluateAll((els) => els.map((e) => `${e.getAttribute("data-target")}<-${e.getAttribute("data-source")}`))
        expect(new Set(pairs).size).toBe(6)
        expect(await page.locator("text=best of top-1").count()).toBeGreaterThan(0)
        expect(errors).toEqual([])
      } finally {
        await browser.close()
      }
    },
    900_000,
  )
})
