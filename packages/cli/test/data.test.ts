/**
 * `spot data preview` through the built CLI: the JSON-lines contract on Hugging Face records (expected
 * lines worked out by hand from T5's preprocessors), ReCoRD's one line per answer, and one-line typed
 * errors naming file, line and field; `spot bench data` on a small file, indexed and loaded.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Safetensors } from "@spot/core"
import { describe, expect, it } from "vitest"
import { spot, tempDir, tinyCheckpoint } from "./helpers.ts"

const dir = tempDir()
const write = (name: string, recs: object[]) => {
  const f = join(dir, name)
  writeFileSync(f, `${recs.map((r) => JSON.stringify(r)).join("\n")}\n`)
  return f
}
const lines = (stdout: string) =>
  stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))

describe("spot data preview", () => {
  it("BoolQ and MNLI: task name, sorted features, label names, idx left out", async () => {
    const boolq = write("boolq.jsonl", [
      { question: "is the sky blue", passage: "The sky is blue.", idx: 0, label: 1 },
      { question: "is grass red", passage: "Grass is green.", idx: 1, label: 0 },
    ])
    const r = await spot(["data", "preview", "--task", "superglue/boolq", "--file", boolq, "--json"])
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(lines(r.stdout)).toEqual([
      { input: "boolq passage: The sky is blue. question: is the sky blue", target: "True" },
      { input: "boolq passage: Grass is green. question: is grass red", target: "False" },
    ])
    const mnli = write("mnli.jsonl", [{ premise: "A dog runs.", hypothesis: "An animal moves.", label: 0, idx: 0 }])
    const m = await spot(["data", "preview", "--task", "glue/mnli", "--file", mnli, "--json", "--taskless"])
    expect(lines(m.stdout)).toEqual([{ input: "hypothesis: An animal moves. premise: A dog runs.", target: "entailment" }])
  })
  it("ReCoRD: one line per answer, in the stored order; MultiRC markup removed; STS-B rounded", async () => {
    const record = write("record.jsonl", [
      {
        passage: "Rain fell on Paris.\n@highlight\nLondon stayed dry",
        query: "It rained in @placeholder.",
        entities: ["London", "Paris"],
        answers: ["Paris", "Paris, France"],
        idx: { passage: 0, query: 0 },
      },
    ])
    const r = await spot(["data", "preview", "--task", "superglue/record", "--file", record, "--json"])
    const input =
      "record query: It rained in @placeholder. entities: London, Paris passage: Rain fell on Paris. London stayed dry"
    expect(lines(r.stdout)).toEqual([
      { input, target: "Paris" },
      { input, target: "Paris, France" },
    ])
    const multirc = write("multirc.jsonl", [
      {
        paragraph: "<b>Sent 1: </b>It rains.<br><b>Sent 2: </b>We stay in.",
        question: "Why stay in?",
        answer: "rain",
        idx: { paragraph: 0, question: 0, answer: 0 },
        label: 1,
      },
    ])
    const mr = await spot(["data", "preview", "--task", "superglue/multirc", "--file", multirc, "--json"])
    expect(lines(mr.stdout)).toEqual([
      { input: "multirc question: Why stay in? answer: rain paragraph: Sent 1: It rains. Sent 2: We stay in.", target: "True" },
    ])
    const stsb = write("stsb.jsonl", [{ sentence1: "a", sentence2: "b", label: 3.75, idx: 0 }])
    const s = await spot(["data", "preview", "--task", "glue/stsb", "--file", stsb, "--json"])
    expect(lines(s.stdout)).toEqual([{ input: "stsb sentence1: a sentence2: b", target: "3.8" }])
  })
  it("without --json: a readable listing", async () => {
    const rte = write("rte.jsonl", [{ premise: "P.", hypothesis: "H.", label: 1, idx: 0 }])
    const r = await spot(["data", "preview", "--task", "superglue/rte", "--file", rte])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("input:  rte hypothesis: H. premise: P.")
    expect(r.stdout).toContain("target: not_entailment")
  })
  it("bad records and unknown tasks: exit non-zero with one line naming file, line and field", async () => {
    const bad = write("bad.jsonl", [
      { premise: "p", hypothesis: "h", label: 0, idx: 0 },
      { premise: "p", hypothesis: "h", label: 9, idx: 1 },
    ])
    const r = await spot(["data", "preview", "--task", "superglue/cb", "--file", bad, "--json"])
    expect(r.code).not.toBe(0)
    expect(r.stdout).toBe("")
    const err = r.stderr.trim().split("\n")
    expect(err).toHaveLength(1)
    expect(err[0]).toContain("DataError")
    expect(err[0]).toContain(`file=${bad}`)
    expect(err[0]).toContain("line=2")
    expect(err[0]).toContain("field=label")
    const nested = write("mrc.jsonl", [{ paragraph: "p", question: "q", answer: "a", label: 0, idx: 5 }])
    const n = await spot(["data", "preview", "--task", "superglue/multirc", "--file", nested, "--json"])
    expect(n.code).not.toBe(0)
    expect(n.stderr).toContain("field=idx")
    const u = await spot(["data", "preview", "--task", "glue/nope", "--file", bad])
    expect(u.code).toBe(2) // a bad flag value is a usage error
    expect(u.stderr.trim().split("\n")).toHaveLength(1)
    expect(u.stderr).toContain("--task")
  })
})

describe("spot eval --task", () => {
  it("scores a preset with its own metrics and says which method made each number", async () => {
    const model = await tinyCheckpoint(join(dir, "model"))
    const prompt = join(dir, "prompt.safetensors")
    const data = new Float32Array(2 * 16).map((_, i) => Math.sin(i))
    writeFileSync(prompt, Safetensors.encodeSafetensors({ prompt: { dtype: "f32", shape: [2, 16], data } }, {}))
    const mrpc = write(
      "mrpc.jsonl",
      [0, 1, 1, 0].map((label, i) => ({ sentence1: `s${i}`, sentence2: `t${i}`, label, idx: i })),
    )
    const args = ["eval", "--model", model, "--prompt", prompt, "--data", mrpc, "--task", "glue/mrpc", "--max-target", "4"]
    const r = await spot([...args, "--method", "both", "--json"])
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    const res = JSON.parse(r.stdout.trim().split("\n").at(-1) as string)
    expect(res.task).toBe("mrpc")
    expect(res.results.map((x: { method: string }) => x.method)).toEqual(["rank", "decode"])
    for (const x of res.results) {
      expect(Object.keys(x).sort()).toEqual(["accuracy", "f1", "method", "score"])
      expect(x.score).toBeCloseTo((x.f1 + x.accuracy) / 2)
    }
    expect(res.method).toBe("rank")
  })
})

describe("spot bench data", () => {
  it("writes a JSONL, opens it indexed or loaded and builds the same batches either way", async () => {
    const file = join(dir, "bench.jsonl")
    const run = async (stream: string) => {
      const r = await spot([
        "bench",
        "data",
        "--file",
        file,
        "--mb",
        "1",
        "--line-bytes",
        "512",
        "--steps",
        "5",
        "--batch",
        "4",
        "--stream",
        stream,
        "--json",
      ])
      expect(r.stderr).toBe("")
      expect(r.code).toBe(0)
      return lines(r.stdout).at(-1)
    }
    const on = await run("on")
    const off = await run("off")
    expect(on.examples).toBe(2048)
    expect(off.examples).toBe(on.examples)
    expect(on.offsets_mb).toBeCloseTo((8 * (on.examples + 1)) / 2 ** 20)
    expect(on.classes).toBe(3)
    expect(off.classes).toBe(3)
    expect(on.batch_tokens).toBe(off.batch_tokens)
    expect(on.batch_tokens).toBeGreaterThan(0)
  })
})
