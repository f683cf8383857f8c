/**
 * `spot pretrain` writes to ./micro-t5 of the working directory by default, never into the micro T5
 * that @spot/experiments ships (packages/experiments/models/micro-t5).
 */
import { execFile } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { expect, it } from "vitest"
import { CLI, ROOT, tempDir } from "./helpers.ts"

const SHIPPED = join(ROOT, "packages/experiments/models/micro-t5/model.safetensors")
const digest = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex")

it("spot pretrain without --out writes ./micro-t5 in the working directory and leaves the shipped model alone", async () => {
  const before = digest(SHIPPED)
  const cwd = tempDir()
  const code = await new Promise<number>((resolve) =>
    execFile("node", [CLI, "pretrain", "--steps", "1", "--batch", "2", "--json"], { cwd, timeout: 300_000 }, (err) =>
      resolve(err ? ((err as { code?: number }).code ?? 1) : 0),
    ),
  )
  expect(code).toBe(0)
  expect(existsSync(join(cwd, "micro-t5", "config.json"))).toBe(true)
  expect(existsSync(join(cwd, "micro-t5", "model.safetensors"))).toBe(true)
  expect(digest(SHIPPED)).toBe(before)
}, 300_000)
