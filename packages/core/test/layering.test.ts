/**
 * The layering rules of `.dependency-cruiser.cjs` (what `npm run lint:deps` checks in CI): the real
 * tree passes them, and a copy of it with deliberately wrong-way imports fails, naming each rule.
 */
import { execFile } from "node:child_process"
import { appendFileSync, cpSync, mkdtempSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"

const root = fileURLToPath(new URL("../../..", import.meta.url))
const bin = join(root, "node_modules/dependency-cruiser/bin/dependency-cruise.mjs")

interface Violation {
  readonly from: string
  readonly to: string
  readonly rule: { readonly name: string }
}

/** Runs dependency-cruiser (with node, whatever runs this test) over `packages` in `cwd`. */
const cruise = (cwd: string) =>
  new Promise<{ violations: Violation[]; error: number }>((resolve, reject) => {
    execFile(
      "node",
      [bin, "--config", ".dependency-cruiser.cjs", "--output-type", "json", "packages"],
      { cwd, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        try {
          const r = JSON.parse(stdout) as { summary: { violations: Violation[]; error: number } }
          resolve({ violations: r.summary.violations, error: r.summary.error })
        } catch {
          reject(new Error(`dependency-cruiser failed: ${err?.message ?? ""}\n${stderr}`))
        }
      },
    )
  })

const temp = mkdtempSync(join(tmpdir(), "spot-layering-"))
afterAll(() => rmSync(temp, { recursive: true, force: true }))

/** A copy of the packages' sources with three wrong-way imports added. */
const brokenCopy = () => {
  for (const p of ["core", "experiments", "backend-cuda", "cli"]) {
    cpSync(join(root, "packages", p, "src"), join(temp, "packages", p, "src"), { recursive: true })
  }
  cpSync(join(root, "tsconfig.json"), join(temp, "tsconfig.json"))
  cpSync(join(root, ".dependency-cruiser.cjs"), join(temp, ".dependency-cruiser.cjs"))
  symlinkSync(join(root, "node_modules"), join(temp, "node_modules"), "dir")
  // the graph layer reaching up into T5
  appendFileSync(join(temp, "packages/core/src/graph/tensor.ts"), '\nexport type { T5Model } from "../t5/checkpoint.ts"\n')
  // a backend importing the full core barrel instead of @spot/core/graph
  appendFileSync(join(temp, "packages/backend-cuda/src/compile.ts"), '\nexport type { T5Model } from "@spot/core"\n')
  // the data layer importing training
  appendFileSync(join(temp, "packages/core/src/data/dataset.ts"), '\nexport type { Params } from "../train/trainer.ts"\n')
  return temp
}

describe("layering (dependency-cruiser)", () => {
  it("the source tree follows every rule, and a wrong-way import fails naming its rule", async () => {
    const [real, broken] = await Promise.all([cruise(root), cruise(brokenCopy())])
    expect(real.violations).toEqual([])
    const hits = broken.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)
    expect(hits).toContain("graph-layer-self-contained: packages/core/src/graph/tensor.ts → packages/core/src/t5/checkpoint.ts")
    expect(hits).toContain("backends-on-graph-entry-only: packages/backend-cuda/src/compile.ts → packages/core/src/index.ts")
    expect(hits).toContain("data-below-training: packages/core/src/data/dataset.ts → packages/core/src/train/trainer.ts")
    // tensor.ts → t5/checkpoint.ts → … → tensor.ts is also a cycle
    expect(broken.violations.some((v) => v.rule.name === "no-circular")).toBe(true)
    expect(broken.error).toBeGreaterThanOrEqual(4)
  }, 300_000)
})
