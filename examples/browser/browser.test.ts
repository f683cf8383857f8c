/**
 * The browser example end to end: headless Chromium (Debian's, through playwright-core) with
 * WebGPU on SwiftShader opens the page, which loads the micro T5, retrieves from the bundled
 * library and prompt-tunes; the loss must fall and the console stay free of errors.
 */
import type { Server } from "node:http"
import { chromium } from "playwright-core"
import { afterAll, beforeAll, expect, it } from "vitest"
// @ts-expect-error: plain ESM helpers without type declarations
import { buildPage } from "./build.mjs"
// @ts-expect-error: plain ESM helpers without type declarations
import { serve } from "./serve.mjs"

let server: Server
beforeAll(async () => {
  await buildPage()
  server = await serve(0)
})
afterAll(() => server?.close())

it("trains a prompt on WebGPU in Chromium: the loss falls, no console errors", async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless=new", "--no-sandbox", "--enable-unsafe-webgpu"],
  })
  try {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text())
    })
    page.on("pageerror", (e) => errors.push(e.message))
    const port = (server.address() as { port: number }).port
    await page.goto(`http://localhost:${port}/?init=shared&steps=6&batch=8&embed=2`)
    await page.click("#run")
    await page.waitForFunction(
      () => ["done", "error"].includes((window as { spot?: { state: string } }).spot?.state ?? ""),
      null,
      {
        timeout: 280_000,
        polling: 1000,
      },
    )
    const s = await page.evaluate(
      () =>
        (window as unknown as { spot: { state: string; losses: number[]; ranking: unknown[]; best: number; error: string } })
          .spot,
    )
    expect(s.error).toBe("")
    expect(s.state).toBe("done")
    expect(s.losses).toHaveLength(6)
    const first = s.losses[0]
    const tail = s.losses.slice(-3).reduce((a, b) => a + b, 0) / 3
    expect(tail).toBeLessThan(first)
    expect(s.ranking).toHaveLength(3)
    expect(s.best).toBeGreaterThan(0.5)
    expect(await page.textContent("#adapter")).toContain("navigator.gpu")
    expect(errors).toEqual([])
  } finally {
    await browser.close()
  }
}, 300_000)
