/**
 * `spot train` end to end through the built CLI: the contract other checks rely on, typed errors for
 * bad inputs, and the crash-resume property (a run killed at a random step and resumed ends with
 * exactly the prompt of an uninterrupted run).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Safetensors } from "@spot/core"
import { Result } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { CLI, spawn, spot, tempDir, tinyCheckpoint, writeTask } from "./helpers.ts"

let model: string
let data: { train: string; valid: string }
let dir: string
const args = (ckpt: string, out: string, extra: string[] = []) => [
  "train",
  "--model",
  model,
  "--tokenizer",
  "byte",
  "--train",
  data.train,
  "--valid",
  data.valid,
  "--steps",
  "12",
  "--seed",
  "3",
  "--batch",
  "4",
  "--prompt-length",
  "4",
  "--eval-every",
  "3",
  "--embedding-step",
  "2",
  "--checkpoint-dir",
  ckpt,
  "--out",
  out,
  "--threads",
  "1",
  ...extra,
]
const prompt = (file: string) => {
  const t = Result.getOrThrow(Safetensors.decodeSafetensors(new Uint8Array(readFileSync(file)), file))
  return t
}

beforeAll(async () => {
  dir = tempDir()
  model = await tinyCheckpoint(join(dir, "model"))
  data = writeTask(dir, "movie-sentiment", 40, 12)
})

describe("spot train", () => {
  it("writes best/last/early checkpoints and the best prompt to --out", async () => {
    const ckpt = join(dir, "ck1")
    const out = join(dir, "p1.safetensors")
    const r = await spot([...args(ckpt, out), "--json"])
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
    expect(lines.filter((l) => l.event === "step")).toHaveLength(12)
    expect(lines.filter((l) => l.event === "eval")).toHaveLength(4)
    const final = lines[lines.length - 1]
    expect(final.out).toBe(out)
    expect(readdirSync(ckpt).sort()).toEqual(["best.safetensors", "early.safetensors", "last.safetensors", "state.safetensors"])
    const p = prompt(out)
    expect(p.tensors.get("prompt")?.shape).toEqual([4, 16])
    expect(p.metadata).toMatchObject({ format: "spot-prompt/1", step: String(final.best_step), seed: "3" })
    expect(prompt(join(ckpt, "early.safetensors")).metadata.step).toBe("2")
    expect(readdirSync(dir).filter((f) => f.includes(".tmp"))).toEqual([])
  })

  it("a run killed at a random step and resumed ends with the uninterrupted run's prompt, bitwise", async () => {
    const refCk = join(dir, "ref")
    const ref = await spot(args(refCk, join(dir, "ref.safetensors")))
    expect(ref.code).toBe(0)
    for (const killAfter of [1 + Math.floor(Math.random() * 5), 6 + Math.floor(Math.random() * 5)]) {
      const ck = join(dir, `kill${killAfter}`)
      const out = join(dir, `kill${killAfter}.safetensors`)
      await new Promise<void>((resolve) => {
        const child = spawn("node", [CLI, ...args(ck, out), "--json"], { stdio: ["ignore", "pipe", "pipe"] })
        let buf = ""
        child.stdout.on("data", (d: Buffer) => {
          buf += d.toString()
          const steps = buf.split("\n").filter((l) => l.includes('"event":"step"')).length
          if (steps >= killAfter) child.kill("SIGKILL")
        })
        child.on("exit", () => resolve())
      })
      expect(existsSync(out)).toBe(false)
      const resumed = await spot([...args(ck, out), "--resume", "--json"])
      expect(resumed.code).toBe(0)
      for (const f of ["last.safetensors", "best.safetensors"]) {
        expect(prompt(join(ck, f)).tensors.get("prompt")?.data).toEqual(prompt(join(refCk, f)).tensors.get("prompt")?.data)
      }
      expect(prompt(out).tensors.get("prompt")?.data).toEqual(prompt(join(dir, "ref.safetensors")).tensors.get("prompt")?.data)
    }
  })

  it("Ctrl-C (SIGINT) mid-run: exit 130, one `error: interrupted` line, no --out and no temp file left", async () => {
    const ck = join(dir, "sigint")
    const out = join(dir, "sigint.safetensors")
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const long = args(ck, out).map((a, i, all) => (all[i - 1] === "--steps" ? "5000" : a))
      const child = spawn("node", [CLI, ...long, "--json"], { stdio: ["ignore", "pipe", "pipe"] })
      let stderr = ""
      let sent = false
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString()
      })
      child.stdout.on("data", (d: Buffer) => {
        if (!sent && d.toString().includes('"event":"step"')) {
          sent = true
          child.kill("SIGINT")
        }
      })
      child.on("exit", (code) => resolve({ code, stderr }))
    })
    expect(r.code).toBe(130)
    expect(r.stderr.trim().split("\n")).toEqual(["error: interrupted"])
    expect(existsSync(out)).toBe(false)
    const left = [dir, ...(existsSync(ck) ? [ck] : [])].flatMap((d) => readdirSync(d)).filter((f) => f.includes(".tmp"))
    expect(left).toEqual([])
  })

  it("--stream on (the JSONL indexed, read a batch at a time) trains the loaded file's prompt, bitwise, also resumed", async () => {
    const run = async (mode: string) => {
      const out = join(dir, `stream-${mode}.safetensors`)
      const r = await spot([...args(join(dir, `ck-stream-${mode}`), out), "--stream", mode, "--json"])
      expect(r.stderr).toBe("")
      expect(r.code).toBe(0)
      const lines = r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l))
      return { out, losses: lines.filter((l) => l.event === "step").map((l) => l.loss), final: lines[lines.length - 1] }
    }
    const off = await run("off")
    const on = await run("on")
    // killed and resumed, the indexed run ends where it would have: its batches are a function of the step
    const killAfter = 4 + Math.floor(Math.random() * 7) // after the state of the step-3 evaluation is written
    const ck = join(dir, "ck-stream-kill")
    const killedOut = join(dir, "stream-kill.safetensors")
    const streamArgs = [...args(ck, killedOut), "--stream", "on"]
    await new Promise<void>((resolve) => {
      const child = spawn("node", [CLI, ...streamArgs, "--json"], { stdio: ["ignore", "pipe", "pipe"] })
      let buf = ""
      child.stdout.on("data", (d: Buffer) => {
        buf += d.toString()
        if (buf.split("\n").filter((l) => l.includes('"event":"step"')).length >= killAfter) child.kill("SIGKILL")
      })
      child.on("exit", () => resolve())
    })
    const resumed = await spot([...streamArgs, "--resume", "--json"])
    expect(resumed.code).toBe(0)
    expect(JSON.parse(resumed.stdout.trim().split("\n").at(-1) ?? "{}").resumed_from).toBeGreaterThanOrEqual(3)
    expect(prompt(killedOut).tensors.get("prompt")?.data).toEqual(prompt(on.out).tensors.get("prompt")?.data)
    expect(on.final.streamed).toBe(true)
    expect(off.final.streamed).toBeUndefined()
    expect(on.losses).toHaveLength(12)
    expect(on.losses).toEqual(off.losses)
    expect(on.final.best_step).toBe(off.final.best_step)
    expect(prompt(on.out).tensors.get("prompt")?.data).toEqual(prompt(off.out).tensors.get("prompt")?.data)
    // a CSV cannot be read a batch at a time: --stream on says so, naming the file
    const csv = join(dir, "train.csv")
    writeFileSync(csv, "input,target\na,positive\nb,negative\n")
    const r = await spot([
      ...args(join(dir, "ck-csv"), join(dir, "csv.safetensors")).map((a) => (a === data.train ? csv : a)),
      "--stream",
      "on",
    ])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain("InputError")
    expect(r.stderr).toContain("train.csv")
  })

  it("refuses to resume a state made with other settings", async () => {
    const ck = join(dir, "ck1")
    const r = await spot([...args(ck, join(dir, "x.safetensors")).map((a) => (a === "3" ? "4" : a)), "--resume"])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain("CheckpointError")
    expect(r.stderr).toContain("runKey")
  })

  it("bad inputs give typed errors naming file and line, and write nothing", async () => {
    const bad = join(dir, "bad.jsonl")
    writeFileSync(bad, '{"input":"a","target":"positive"}\n{"input": nope}\n')
    const out = join(dir, "never.safetensors")
    const r1 = await spot(args(join(dir, "ckbad"), out).map((a) => (a === data.train ? bad : a)))
    expect(r1.code).not.toBe(0)
    expect(r1.stderr).toMatch(/DataError \(file=.*bad\.jsonl.*\): .*line 2|DataError.*bad\.jsonl/)
    expect(r1.stderr).toContain("line=2")
    const unknown = join(dir, "unknown.jsonl")
    writeFileSync(unknown, '{"input":"a","target":"maybe"}\n')
    const r2 = await spot(args(join(dir, "ckbad2"), out).map((a) => (a === data.valid ? unknown : a)))
    expect(r2.stderr).toContain("unknown label")
    const empty = join(dir, "empty.jsonl")
    writeFileSync(empty, "\n")
    const r3 = await spot(args(join(dir, "ckbad3"), out).map((a) => (a === data.train ? empty : a)))
    expect(r3.stderr).toContain("no examples")
    const wide = join(dir, "wide.safetensors")
    writeFileSync(wide, Safetensors.encodeSafetensors({ prompt: { dtype: "f32", shape: [4, 17], data: new Float32Array(68) } }))
    const r4 = await spot([...args(join(dir, "ckbad4"), out), "--init", wide])
    expect(r4.stderr).toContain("InputError")
    expect(r4.stderr).toContain("does not fit [L, 16]")
    expect(existsSync(out)).toBe(false)
  })
})

describe("spot tune-model", () => {
  it("trains every weight and writes a checkpoint folder that loads", async () => {
    const out = join(dir, "tuned")
    const r = await spot([
      "tune-model",
      "--model",
      model,
      "--train",
      data.train,
      "--valid",
      data.valid,
      "--steps",
      "4",
      "--batch",
      "4",
      "--eval-every",
      "2",
      "--checkpoint-dir",
      join(dir, "tm"),
      "--out",
      out,
      "--json",
    ])
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(readdirSync(out).sort()).toEqual(["config.json", "model.safetensors"])
    // the tuned checkpoint loads and evaluates (with the prompt trained above: same width)
    const back = await spot(["eval", "--model", out, "--prompt", join(dir, "p1.safetensors"), "--data", data.valid, "--json"])
    expect(back.stderr).toBe("")
    expect(back.code).toBe(0)
    expect(JSON.parse(back.stdout).accuracy).toBeGreaterThanOrEqual(0)
  })
})

describe("ready-made task definitions", () => {
  it("spot train --task glue/rte reads Hugging Face records; an unknown task is a typed error", async () => {
    const rte = join(dir, "rte.jsonl")
    writeFileSync(
      rte,
      `${Array.from({ length: 12 }, (_, i) => JSON.stringify({ sentence1: `a cat ${i}`, sentence2: i % 2 ? "a dog" : "a cat", label: i % 2, idx: i })).join("\n")}\n`,
    )
    const base = [
      "train",
      "--model",
      model,
      "--train",
      rte,
      "--valid",
      rte,
      "--steps",
      "2",
      "--batch",
      "4",
      "--prompt-length",
      "2",
      "--eval-every",
      "2",
    ]
    const ok = await spot([
      ...base,
      "--task",
      "glue/rte",
      "--checkpoint-dir",
      join(dir, "ckrte"),
      "--out",
      join(dir, "rte.safetensors"),
      "--json",
    ])
    expect(ok.stderr).toBe("")
    expect(ok.code).toBe(0)
    const bad = await spot([
      ...base,
      "--task",
      "glue/nope",
      "--checkpoint-dir",
      join(dir, "ckrte2"),
      "--out",
      join(dir, "x.safetensors"),
    ])
    expect(bad.code).toBe(2) // a bad flag value is a usage error
    expect(bad.stderr).toContain("unknown task glue/nope")
  })
})
