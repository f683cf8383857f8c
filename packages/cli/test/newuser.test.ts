/**
 * A new user's first hour (issue: "as users have it"): the README's commands on a Hugging Face cache
 * the test fabricates (`--model org/tiny`, `org/movies:train` with its own column names), and the
 * hostile inputs that bit — a tokenizer.json of another model family, a 50 MB JSONL line, Hub ids
 * that are not cached, benchmark flags out of range, `--embedding-out` that is a folder. Each case
 * is judged on its exit code, its one `error:` line and the files it must leave alone.
 */
import { cpSync, mkdirSync, writeFileSync } from "node:fs"
import { hostname } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { lockOwner } from "../src/library-store.ts"
import { tempDir } from "./helpers.ts"
import { D, makeLibrary, tensor, writePrompt } from "./hostile-fixtures.ts"
import { BASELINE, type Case, judgeAll, tally } from "./hostile-harness.ts"
import { bertTokenizer, buildHubCache } from "./newuser-fixtures.ts"

let dir: string
let snapshot: string
const p = (...xs: string[]) => join(dir, ...xs)
const columns = ["--input-column", "sentence", "--target-column", "label"]
const small = ["--steps", "2", "--batch", "4", "--eval-every", "2", "--threads", "1"]

const cases: Case[] = [
  {
    name: "eval --model org/tiny on a Hub split with its own column names",
    args: () => [
      "eval",
      "--model",
      "org/tiny",
      "--prompt",
      p("prompt.safetensors"),
      "--data",
      "org/movies:validation",
      ...columns,
      "--json",
    ],
    code: 0,
    message: /"examples":8/,
  },
  {
    name: "data preview of a Hub split",
    args: () => ["data", "preview", "--task", "glue/sst2", "--file", "org/sst2:train", "--json"],
    code: 0,
    message: /"input":"sst2 sentence: the movie was good"/,
  },
  {
    name: "transfer on a Hub split with its own column names",
    args: () => [
      "transfer",
      "--model",
      "org/tiny@v2",
      "--train",
      "org/movies:train",
      "--valid",
      "org/movies:validation",
      ...columns,
      "--library",
      p("lib"),
      "--allow-mixed-recipes",
      "--embedding-steps",
      "1",
      ...small,
      "--out",
      p("transfer.safetensors"),
    ],
    code: 0,
    message: /best: a#0/,
  },
  {
    name: "study --spec with a Hub model and its own tokenizer",
    args: () => ["study", "--spec", p("spec", "study.json"), "--out", p("study"), "--threads", "1"],
    code: 0,
    message: /report: .*report\.html/,
  },
  {
    name: "a tokenizer.json of another model family (BERT) is refused",
    args: () => ["eval", "--model", p("bert-model"), "--prompt", p("prompt.safetensors"), "--data", p("valid.jsonl")],
    code: 3,
    message: /InputError .*bert-model\/tokenizer\.json: <\/s>.*another model family/,
  },
  {
    name: "eval on a JSONL with a 50 MB line",
    args: () => ["eval", "--model", "org/tiny", "--prompt", p("prompt.safetensors"), "--data", p("big.jsonl"), "--json"],
    code: 0,
    message: /"examples":2/,
    timeoutMs: 90_000,
  },
  {
    name: "predict on a JSONL with a 50 MB line",
    args: () => [
      "predict",
      "--model",
      "org/tiny",
      "--prompt",
      p("prompt.safetensors"),
      "--input",
      p("big.jsonl"),
      "--max-length",
      "2",
    ],
    code: 0,
    message: /"prediction"/,
    timeoutMs: 90_000,
  },
  {
    name: "a tokenizer that does not fit the model is bad input (3)",
    args: () => ["eval", "--model", "random:t5-small", "--tokenizer", "byte", "--prompt", "x", "--data", "y"],
    code: 3,
    message: /TokenizerMismatch/,
  },
  {
    name: "a Hub id that is not cached (offline) is bad input (3)",
    args: () => ["eval", "--model", "org/absent", "--prompt", p("prompt.safetensors"), "--data", p("valid.jsonl")],
    code: 3,
    message: /HubError .*org\/absent is not in the cache/,
  },
  {
    name: "transfer --embedding-out that is a folder fails before any work",
    args: () => [
      "transfer",
      "--model",
      "org/tiny",
      "--train",
      p("valid.jsonl"),
      "--valid",
      p("valid.jsonl"),
      "--library",
      p("lib"),
      "--allow-mixed-recipes",
      ...small,
      "--out",
      p("t2.safetensors"),
      "--embedding-out",
      p("adir"),
    ],
    code: 2,
    message: /UsageError .*--embedding-out.*is a folder/,
    unchanged: () => [p("adir"), p("t2.safetensors")],
  },
  {
    name: "train --checkpoint-dir that is a file fails before any work",
    args: () => [
      "train",
      "--model",
      "org/tiny",
      "--train",
      p("valid.jsonl"),
      "--valid",
      p("valid.jsonl"),
      ...small,
      "--checkpoint-dir",
      p("valid.jsonl"),
      "--out",
      p("t3.safetensors"),
    ],
    code: 2,
    message: /UsageError .*--checkpoint-dir.*is a file/,
    unchanged: () => [p("valid.jsonl"), p("t3.safetensors")],
  },
  {
    name: "study --out that is a file fails before any work",
    args: () => ["study", "--spec", p("spec", "study.json"), "--out", p("valid.jsonl")],
    code: 2,
    message: /UsageError .*--out.*is a file/,
    unchanged: () => [p("valid.jsonl")],
  },
  {
    name: "bench load --preset nope",
    args: () => ["bench", "load", "--preset", "nope", "--dir", p("bench-load")],
    code: 2,
    message: /--preset.*unknown preset nope/,
    unchanged: () => [p("bench-load")],
  },
  {
    name: "bench step --iters 0",
    args: () => ["bench", "step", "--model", "org/tiny", "--iters", "0", "--threads", "1"],
    code: 2,
    message: /--iters/,
  },
  {
    name: "bench data --line-bytes 0",
    args: () => ["bench", "data", "--file", p("bench.jsonl"), "--mb", "1", "--line-bytes", "0"],
    code: 2,
    message: /--line-bytes/,
    unchanged: () => [p("bench.jsonl"), p("bench.jsonl.tmp")],
    timeoutMs: 30_000,
  },
]

const results: Array<{ name: string; outcome: string; detail: string }> = []

beforeAll(async () => {
  dir = tempDir()
  ;({ snapshot } = await buildHubCache(dir))
  process.env.HF_HUB_CACHE = join(dir, "hub")
  process.env.HF_HUB_OFFLINE = "1"
  writePrompt(p("prompt.safetensors"), tensor(4, D))
  writeFileSync(p("valid.jsonl"), '{"input":"the movie was good","target":"positive"}\n{"input":"bad","target":"negative"}\n')
  const huge = `the movie was ${"good ".repeat(10_000_000)}`
  writeFileSync(p("big.jsonl"), `${JSON.stringify({ input: huge, target: "positive" })}\n{"input":"bad","target":"negative"}\n`)
  cpSync(snapshot, p("bert-model"), { recursive: true, dereference: true })
  writeFileSync(p("bert-model", "tokenizer.json"), JSON.stringify(bertTokenizer()))
  mkdirSync(p("adir"))
  await makeLibrary(p("lib"), [{ name: "a", L: 4 }])
  mkdirSync(p("spec"))
  const spec = {
    model: "org/tiny",
    tasks: {
      a: { synthetic: "movie-sentiment", train: 8, valid: 4 },
      b: { synthetic: "animal-topic", train: 8, valid: 4 },
    },
    sources: ["a"],
    targets: ["b"],
    sourceSteps: 2,
    targetSteps: 2,
    embeddingSteps: 1,
    workers: 1,
    tune: { batch: 4, promptLength: 4, evalEvery: 2 },
  }
  writeFileSync(p("spec", "study.json"), JSON.stringify(spec))
  results.push(...(await judgeAll(cases, 2)))
}, 900_000)

afterAll(() => {
  if (BASELINE) console.log(JSON.stringify({ file: "newuser", counts: tally(results as never), results }, null, 1))
})

describe("a new user: the README's commands on a Hub cache, and hostile inputs", () => {
  it.each(cases.map((c, i) => [c.name, i] as const))("%s", (_name, i) => {
    if (BASELINE) return
    const r = results[i]
    expect(r.outcome, r.detail).toBe("ok")
  })
})

describe("the folder library's lock owner", () => {
  it("is this machine by its real host name (not $HOSTNAME, which shells do not export), with a liveness check", () => {
    const owner = lockOwner()
    expect(owner.host).toBe(hostname())
    expect(owner.pid).toBe(process.pid)
    expect(owner.alive(process.pid)).toBe(true)
    expect(owner.alive(2 ** 22 + 17)).toBe(false)
  })
})
