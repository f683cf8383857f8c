import { execFile, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { NodeServices } from "@effect/platform-node"
import { T5Checkpoint, T5Presets } from "@spot/core"
import { Micro, Synthetic } from "@spot/experiments"
import { Effect } from "effect"

export const ROOT = fileURLToPath(new URL("../../..", import.meta.url))
export const CLI = join(ROOT, "packages/cli/dist/main.js")

/** Runs the built CLI; resolves with exit code, stdout and stderr. */
export const spot = (args: string[], timeoutMs = 300_000, env: Record<string, string> = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    if (!existsSync(CLI)) reject(new Error(`${CLI} is missing: run npm run build first`))
    const options = { cwd: ROOT, timeout: timeoutMs, maxBuffer: 64 << 20, env: { ...process.env, ...env } }
    execFile("node", [CLI, ...args], options, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })

export { spawn }

export const tempDir = () => mkdtempSync(join(tmpdir(), "spot-cli-"))

/** A small random byte-vocabulary T5 written as a checkpoint folder. */
export const tinyCheckpoint = async (dir: string) => {
  const config = { ...Micro.MICRO_CONFIG, dModel: 16, dKv: 4, dFf: 16, numLayers: 1, numDecoderLayers: 1, numHeads: 2 }
  await Effect.runPromise(
    T5Checkpoint.saveCheckpoint(dir, T5Presets.randomT5(config, 1)).pipe(Effect.provide(NodeServices.layer)),
  )
  // a byte model: tokenizer discovery reads this key
  const cfg = join(dir, "config.json")
  writeFileSync(cfg, JSON.stringify({ ...JSON.parse(readFileSync(cfg, "utf8")), spot_tokenizer: "byte" }, null, 2))
  return dir
}

/** Writes a generated task's train/valid splits as JSONL. */
export const writeTask = (dir: string, name: string, nTrain: number, nValid: number, seed = 0) => {
  const task = Synthetic.taskNamed(name)
  if (!task) throw new Error(`no task ${name}`)
  const train = join(dir, `${name}.train.jsonl`)
  const valid = join(dir, `${name}.valid.jsonl`)
  writeFileSync(train, Synthetic.toJsonl(Synthetic.generate(task, "train", nTrain, seed)))
  writeFileSync(valid, Synthetic.toJsonl(Synthetic.generate(task, "valid", nValid, seed)))
  return { train, valid }
}
