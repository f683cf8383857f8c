import { existsSync } from "node:fs"
import { nodeNativeDir } from "@spot/backend-cuda"
import { describe, expect, it } from "vitest"
import { spot } from "./helpers.ts"

interface Check {
  provider: string
  ok: boolean
  detail: string
  install?: string
}

describe("spot doctor", () => {
  it("reports every provider, why the ones that do not load fail, and what to install", async () => {
    const r = await spot(["doctor", "--json"], 180_000)
    expect(r.code).toBe(0)
    const report = JSON.parse(r.stdout.trim().split("\n").at(-1) as string) as { checks: Check[] }
    const byName = new Map(report.checks.map((c) => [c.provider, c]))
    expect([...byName.keys()]).toEqual(["onnx:cpu", "onnx:cuda", "onnx:webgpu", "webgpu"])
    expect(byName.get("onnx:cpu")?.ok).toBe(true)
    for (const c of report.checks) {
      expect(c.detail.length).toBeGreaterThan(0)
      if (!c.ok) expect(c.install?.length ?? 0).toBeGreaterThan(10)
    }
    const dir = nodeNativeDir()
    if (!dir || !existsSync(`${dir}/libonnxruntime_providers_cuda.so`)) {
      expect(byName.get("onnx:cuda")).toMatchObject({ ok: false })
      expect(byName.get("onnx:cuda")?.install).toContain("ONNXRUNTIME_NODE_INSTALL=cuda12")
    }
  })
})
