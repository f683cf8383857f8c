import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { SWIFTSHADER } from "../../backend-webgpu/test/adapter.ts"
import { ROOT, spot } from "./helpers.ts"

const FIX = join(ROOT, "..", "shared", "fixtures", "hf-t5-parity")
const software: Record<string, string> = process.env.SPOT_WEBGPU_NATIVE ? {} : { VK_ICD_FILENAMES: SWIFTSHADER }

describe("spot with --backend webgpu", () => {
  for (const fixture of ["t5-tiny", "t5v1_1-tiny", "t5v1_1-untied-tiny"]) {
    it(`spot parity ${fixture} --backend webgpu`, async () => {
      const r = await spot(["parity", join(FIX, fixture), "--backend", "webgpu", "--json"], 120_000, software)
      expect(r.code).toBe(0)
      const report = JSON.parse(r.stdout)
      expect(report).toMatchObject({ pass: true, generation_exact: true })
      expect(report.backend).toMatch(/^webgpu/)
      expect(report.adapter.source).toBe("webgpu (dawn.node)")
    })
  }
  it("no adapter: a typed BackendUnavailable that says what to install, and a non-zero exit", async () => {
    const r = await spot(["bench", "matmul", "--n", "8", "--backend", "webgpu"], 60_000, {
      VK_ICD_FILENAMES: "/nonexistent/icd.json",
    })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain("BackendUnavailable (backend=webgpu)")
    expect(r.stderr).toContain("VK_ICD_FILENAMES")
  })
})
