/**
 * Hostile inputs to train/eval/predict/study/report and the CLI itself (issue #15): every case gives
 * its documented exit code (2 usage, 3 input, 1 runtime), exactly one `error:` line of the expected
 * class, and leaves the named files unchanged. Library, transfer and interchange cases are in
 * `hostile-library.test.ts`.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Safetensors } from "@spot/core"
import { Result } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { tempDir } from "./helpers.ts"
import { buildFixtures, type Fixtures } from "./hostile-fixtures.ts"
import { BASELINE, type Case, judgeAll, tally } from "./hostile-harness.ts"

let fx: Fixtures
const out = (name: string) => join(fx.dir, "out", name)
/** `spot train` on the tiny model; `extra` flags replace the defaults of the same name. */
const trainArgs = (extra: string[], o = out("p.safetensors")) => {
  const flags = new Map<string, string>([
    ["--model", fx.model],
    ["--train", fx.data.train],
    ["--valid", fx.data.valid],
    ["--steps", "2"],
    ["--batch", "4"],
    ["--prompt-length", "4"],
    ["--eval-every", "1"],
    ["--checkpoint-dir", join(fx.dir, `ck-${extra.join("").replace(/[^a-z0-9]/gi, "")}`)],
    ["--out", o],
    ["--threads", "1"],
  ])
  for (let i = 0; i + 1 < extra.length; i += 2) flags.set(extra[i], extra[i + 1])
  return ["train", ...[...flags].flat()]
}
const evalArgs = (prompt: string, model = fx.model, extra: string[] = []) => [
  "eval",
  "--model",
  model,
  "--prompt",
  prompt,
  "--data",
  fx.data.valid,
  "--threads",
  "1",
  ...extra,
]
const studyDir = (name: string, json: string) => {
  const d = join(fx.dir, "studies", name)
  mkdirSync(d, { recursive: true })
  writeFileSync(join(d, "study.json"), json)
  return d
}
const hostile = `<script>alert(1)</script>"'&<img src=x onerror=alert(2)>`
const goodStudy = (names: string) =>
  JSON.stringify({
    sources: [names],
    targets: [names],
    seeds: [0],
    similarity_metric: names,
    rer: [[0.1]],
    similarity: [[null]],
    correlation: [{ r: null, p: 1, n: 1 }],
    baseline: 0.5,
    oracle: 0.6,
    summary: [{ k: 1, score: 0.5, oracle_gain_kept: 0.1, search_space_skipped: 0.2 }],
    candidates: 1,
    cells: 1,
    seconds: 1,
  })
const inputs = () => [fx.data.train, fx.data.valid, fx.prompt, fx.model]

const cases: Case[] = [
  // usage errors: flags checked before any work, nothing written
  ...(
    [
      ["--batch", "0"],
      ["--batch", "-4"],
      ["--prompt-length", "-2"],
      ["--prompt-length", "0"],
      ["--lr", "-1"],
      ["--clip", "-1"],
      ["--max-target", "0"],
      ["--steps", "0"],
      ["--eval-every", "0"],
    ] as const
  ).map(
    ([flag, v]): Case => ({
      name: `train ${flag} ${v}`,
      args: () => trainArgs([flag, v]),
      code: 2,
      message: new RegExp(`UsageError \\(field=${flag}\\)`),
      unchanged: () => [...inputs(), join(fx.dir, "out")],
    }),
  ),
  {
    name: "train --out in a missing folder fails before training",
    args: () => trainArgs([], join(fx.dir, "missing", "dir", "p.safetensors")),
    code: 2,
    message: /UsageError \(field=--out\).*does not exist/,
    unchanged: () => [join(fx.dir, "missing"), join(fx.dir, "ck-")],
  },
  {
    name: "train --out equal to the training data",
    args: () => trainArgs([], fx.data.train),
    code: 2,
    message: /--out.*input/,
    unchanged: inputs,
  },
  {
    name: "train --lr 1e39 diverges without writing non-finite checkpoints",
    args: () => trainArgs(["--lr", "1e39"]),
    code: 1,
    message: /TrainingDiverged/,
    check: () => {
      const ck = join(fx.dir, "ck-lr1e39")
      for (const f of existsSync(ck) ? readdirSync(ck) : []) {
        const st = Safetensors.decodeSafetensors(new Uint8Array(readFileSync(join(ck, f))), f)
        if (Result.isSuccess(st))
          for (const [k, t] of st.success.tensors)
            if (!(t.data as Float32Array).every(Number.isFinite)) return `${f}:${k} is not finite`
      }
      return existsSync(out("p.safetensors")) ? "--out written" : undefined
    },
  },
  {
    name: "train with a tokenizer.json whose vocab is not a list",
    args: () => trainArgs(["--tokenizer", fx.tok]),
    code: 3,
    message: /InputError.*model\.vocab/,
    unchanged: inputs,
  },
  // finiteness and bounds at load
  { name: "eval with a NaN prompt", args: () => evalArgs(fx.nanPrompt), code: 3, message: /nan-prompt.*non-finite.*index 37/ },
  { name: "eval with a 0-row prompt", args: () => evalArgs(fx.emptyPrompt), code: 3, message: /InputError.*0 rows/ },
  {
    name: "eval with NaN model weights",
    args: () => evalArgs(fx.prompt, fx.nanModel),
    code: 3,
    message: /CheckpointError.*shared\.weight.*non-finite/,
  },
  {
    name: "config.json num_layers 1e9",
    args: () => evalArgs(fx.prompt, fx.hugeModel),
    code: 3,
    message: /ConfigError.*num_layers/,
  },
  {
    name: "config.json decoder_start_token_id out of the vocabulary",
    args: () => evalArgs(fx.prompt, fx.badStartModel),
    code: 3,
    message: /ConfigError.*decoder_start_token_id/,
  },
  {
    name: "eval --max-target 0",
    args: () => evalArgs(fx.prompt, fx.model, ["--max-target", "0"]),
    code: 2,
    message: /--max-target/,
  },
  {
    name: "predict --max-length 100000",
    args: () => ["predict", "--model", fx.model, "--prompt", fx.prompt, "--input", fx.data.valid, "--max-length", "100000"],
    code: 2,
    message: /--max-length/,
  },
  {
    name: "predict --out equal to its input",
    args: () => ["predict", "--model", fx.model, "--prompt", fx.prompt, "--input", fx.data.valid, "--out", fx.data.valid],
    code: 2,
    message: /--out.*input/,
    unchanged: inputs,
  },
  // study and report
  {
    name: "study --seeds a",
    args: () => ["study", "--seeds", "a", "--out", out("s1")],
    code: 2,
    message: /--seeds/,
    unchanged: () => [out("s1")],
  },
  {
    name: "study --sources ''",
    args: () => ["study", "--sources", "", "--out", out("s2")],
    code: 2,
    message: /--sources/,
    unchanged: () => [out("s2")],
  },
  {
    name: "study --sources nosuchtask",
    args: () => ["study", "--sources", "nosuchtask", "--targets", "post-mood", "--out", out("s3"), "--threads", "1"],
    code: 3,
    message: /nosuchtask/,
  },
  ...(
    [
      ["not JSON", "{oops"],
      ["empty", ""],
      ["{}", "{}"],
      ["null", "null"],
      ["NaN", "NaN"],
      ["wrong matrix", goodStudy("x").replace('"rer":[[0.1]]', '"rer":[[0.1,2]]')],
    ] as const
  ).map(
    ([what, json], i): Case => ({
      name: `report on a ${what} study.json`,
      args: () => ["report", studyDir(`bad${i}`, json)],
      code: 3,
      message: /InputError.*study\.json/,
      unchanged: () => [join(fx.dir, "studies", `bad${i}`)],
    }),
  ),
  {
    name: "report escapes hostile names (no script, no markup)",
    args: () => ["report", studyDir("hostile", goodStudy(hostile))],
    code: 0,
    check: () => {
      const html = readFileSync(join(fx.dir, "studies", "hostile", "report.html"), "utf8")
      return /<script|<img|onerror=/i.test(html) ? "hostile markup in report.html" : undefined
    },
  },
  { name: "report on a missing folder", args: () => ["report", join(fx.dir, "nope")], code: 3, message: /nope/ },
  // the CLI itself
  { name: "unknown flag", args: () => ["train", "--nope"], code: 2, message: /usage/ },
  { name: "no subcommand", args: () => [], code: 2, message: /usage/ },
  {
    name: "--verbose adds the cause chain",
    args: () => ["report", join(fx.dir, "nope"), "--verbose"],
    code: 3,
    check: (r) => (r.stderr.includes("caused by") ? undefined : "no cause chain"),
  },
]

const results: Array<{ name: string; outcome: string; detail: string }> = []

beforeAll(async () => {
  fx = await buildFixtures(tempDir())
  results.push(...(await judgeAll(cases)))
}, 900_000)

afterAll(() => {
  if (BASELINE) console.log(JSON.stringify({ file: "hostile", counts: tally(results as never), results }, null, 1))
})

describe("hostile inputs: train, eval, predict, study, report", () => {
  it.each(cases.map((c, i) => [c.name, i] as const))("%s", (_name, i) => {
    if (BASELINE) return
    const r = results[i]
    expect(r.outcome, r.detail).toBe("ok")
  })
})
