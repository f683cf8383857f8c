/**
 * Hostile inputs to the prompt library, its lock, import/export and transfer (issue #15): each case
 * gives its documented exit code, one `error:` line naming library/entry/file/field, and leaves the
 * library (or the path it was pointed at) unchanged unless it is a successful write.
 */

import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { hostname } from "node:os"
import { join } from "node:path"
import { Safetensors } from "@spot/core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { tempDir } from "./helpers.ts"
import { buildFixtures, D, type Fixtures, makeLibrary, npy, tensor } from "./hostile-fixtures.ts"
import { BASELINE, type Case, judgeAll, tally } from "./hostile-harness.ts"

let fx: Fixtures
let lib: string
const p = (...xs: string[]) => join(fx.dir, ...xs)
/** A private copy of the shared library for a case that writes. */
const copyLib = (name: string) => {
  const dst = p("libs", name)
  cpSync(lib, dst, { recursive: true })
  return dst
}
const peft = (name: string, cfg: Record<string, unknown>, rows: number) => {
  const d = p("peft", name)
  mkdirSync(d, { recursive: true })
  writeFileSync(join(d, "adapter_config.json"), JSON.stringify({ peft_type: "PROMPT_TUNING", token_dim: D, ...cfg }))
  writeFileSync(join(d, "adapter_model.safetensors"), Safetensors.encodeSafetensors({ prompt_embeddings: tensor(rows, D) }))
  return d
}
const transferArgs = (library: string, out: string, extra: string[] = []) => [
  "transfer",
  "--model",
  fx.model,
  "--train",
  fx.data.train,
  "--valid",
  fx.data.valid,
  "--library",
  library,
  "--steps",
  "2",
  "--embedding-steps",
  "2",
  "--batch",
  "4",
  "--eval-every",
  "2",
  "--out",
  out,
  "--threads",
  "1",
  ...extra,
]

const cases: Case[] = [
  {
    name: "list of a library that does not exist creates nothing",
    args: () => ["library", "list", "--library", p("typo", "a", "b")],
    code: 3,
    message: /LibraryError \(library=.*typo.*entry=\(library\)\).*no library/,
    unchanged: () => [p("typo")],
  },
  {
    name: "show of a library that does not exist creates nothing",
    args: () => ["library", "show", "x", "--library", p("typo2")],
    code: 3,
    message: /no library/,
    unchanged: () => [p("typo2")],
  },
  {
    name: "rm from a library that does not exist creates nothing",
    args: () => ["library", "rm", "x", "--library", p("typo3")],
    code: 3,
    unchanged: () => [p("typo3")],
  },
  {
    name: "list reports an entry.json that is null and a corrupted seed file",
    args: () => ["library", "list", "--library", p("libs", "damaged")],
    code: 0,
    unchanged: () => [p("libs", "damaged")],
    check: (r) =>
      /damaged entry nulled/.test(r.stderr) && /damaged entry corrupt.*checksum/.test(r.stderr) && /healthy/.test(r.stdout)
        ? undefined
        : "damaged entries not both reported",
  },
  {
    name: "show of a 100 × 2048 prompt",
    args: () => ["library", "show", "wide", "--library", p("libs", "wide"), "--json"],
    code: 0,
    check: (r) => (/source_norm/.test(r.stdout) ? undefined : "no norm"),
  },
  {
    name: "import of a PEFT adapter with num_virtual_tokens 2.5 leaves nothing",
    args: () => [
      "library",
      "import",
      peft("frac", { num_virtual_tokens: 2.5, num_transformer_submodules: 2 }, 5),
      "--name",
      "frac",
      "--library",
      p("libs", "new-frac"),
    ],
    code: 3,
    message: /num_virtual_tokens/,
    unchanged: () => [p("libs", "new-frac")],
  },
  {
    name: "import of a PEFT config that is null",
    args: () => {
      const d = peft("nullcfg", {}, 4)
      writeFileSync(join(d, "adapter_config.json"), "null")
      return ["library", "import", d, "--name", "n", "--library", p("libs", "new-null")]
    },
    code: 3,
    unchanged: () => [p("libs", "new-null")],
  },
  ...(
    [
      ["repeated key (numpy refuses)", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 16), 'fortran_order': True, }"],
      ["extra key", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 16), 'x': 1, }"],
      ["fortran order", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 16), }"],
      ["1-d shape", "{'descr': '<f4', 'fortran_order': False, 'shape': (32,), }"],
      ["shape in a string", "{'descr': '<f4', 'fortran_order': False, 'shape': '(2, 16)', }"],
      ["big-endian", "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 16), }"],
      ["text after the dict", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 16), } junk"],
    ] as const
  ).map(
    ([what, header], i): Case => ({
      name: `import of a .npy with ${what}`,
      args: () => {
        const f = p(`bad${i}.npy`)
        writeFileSync(f, npy(header, 32))
        return ["library", "import", f, "--name", "n", "--library", lib]
      },
      code: 3,
      message: /InputError .*bad\d\.npy/,
      unchanged: () => [lib],
    }),
  ),
  {
    name: "add of a NaN prompt changes nothing",
    args: () => ["library", "add", "nanny", "--source", fx.nanPrompt, "--library", lib],
    code: 3,
    message: /non-finite/,
    unchanged: () => [lib],
  },
  {
    name: "add with an index that is a folder fails before changing the entry",
    args: () => ["library", "add", "a", "--source", fx.prompt, "--seed", "7", "--library", p("libs", "badindex")],
    code: 3,
    message: /LibraryError .*entry=\(index\).*index/,
    unchanged: () => [p("libs", "badindex")],
  },
  {
    name: "rm with an index that is a folder fails before changing the entry",
    args: () => ["library", "rm", "a", "--library", p("libs", "badindex")],
    code: 3,
    message: /index/,
    unchanged: () => [p("libs", "badindex")],
  },
  {
    name: "a .lock that is a directory is reported at once",
    args: () => ["library", "add", "z", "--source", fx.prompt, "--library", p("libs", "lockdir")],
    code: 3,
    message: /LibraryError .*entry=\(lock\).*directory/,
  },
  {
    name: "a lock of a dead writer is recovered at once",
    args: () => ["library", "add", "z", "--source", fx.prompt, "--library", p("libs", "deadlock")],
    code: 0,
  },
  {
    name: "export --out into the library",
    args: () => ["library", "export", "a", "--format", "npy", "--out", join(lib, "entries", "x.npy"), "--library", lib],
    code: 2,
    message: /--out/,
    unchanged: () => [lib],
  },
  {
    name: "transfer with entries of different prompt lengths is refused, listing them",
    args: () => transferArgs(p("libs", "mixed"), p("out", "t1.safetensors")),
    code: 2,
    message: /prompt lengths.*L=4: a.*L=6: b/,
    unchanged: () => [p("libs", "mixed"), p("out", "t1.safetensors")],
  },
  {
    name: "transfer --out equal to the training data",
    args: () => transferArgs(lib, fx.data.train),
    code: 2,
    message: /--out/,
    unchanged: () => [fx.data.train, lib],
  },
  {
    name: "transfer skips a damaged entry with a warning naming it",
    // the fixture entries record no embedding recipe: this case is about damaged entries, not recipes
    args: () => transferArgs(p("libs", "damaged"), p("out", "t2.safetensors"), ["--k", "1", "--allow-mixed-recipes"]),
    code: 0,
    check: (r) => (/warning: skipping damaged entry (nulled|corrupt)/.test(r.stderr) ? undefined : "no warning"),
  },
]

const results: Array<{ name: string; outcome: string; detail: string }> = []

beforeAll(async () => {
  fx = await buildFixtures(tempDir())
  lib = await makeLibrary(p("libs", "main"), [
    { name: "a", L: 4 },
    { name: "b", L: 4, seeds: [0, 1] },
  ])
  await makeLibrary(p("libs", "mixed"), [
    { name: "a", L: 4 },
    { name: "b", L: 6 },
  ])
  await makeLibrary(p("libs", "wide"), [{ name: "wide", L: 100, d: 2048 }])
  const damaged = await makeLibrary(p("libs", "damaged"), [
    { name: "healthy", L: 4 },
    { name: "nulled", L: 4 },
    { name: "corrupt", L: 4 },
  ])
  writeFileSync(join(damaged, "entries", "nulled", "entry.json"), "null")
  const ej = JSON.parse(readFileSync(join(damaged, "entries", "corrupt", "entry.json"), "utf8"))
  const seedFile = join(damaged, "entries", "corrupt", ej.seeds[0].file)
  const bytes = readFileSync(seedFile)
  bytes[bytes.length - 1] ^= 1
  writeFileSync(seedFile, bytes)
  const badindex = copyLib("badindex")
  rmSync(join(badindex, "index.safetensors"))
  mkdirSync(join(badindex, "index.safetensors"))
  mkdirSync(join(copyLib("lockdir"), ".lock"))
  const host = hostname() // the CLI records the machine's host name
  writeFileSync(join(copyLib("deadlock"), ".lock"), JSON.stringify({ pid: 2 ** 22 + 17, host, token: "t", since: "x" }))
  results.push(...(await judgeAll(cases)))
}, 900_000)

afterAll(() => {
  if (BASELINE) console.log(JSON.stringify({ file: "hostile-library", counts: tally(results as never), results }, null, 1))
})

describe("hostile inputs: library, lock, interchange, transfer", () => {
  it.each(cases.map((c, i) => [c.name, i] as const))("%s", (_name, i) => {
    if (BASELINE) return
    const r = results[i]
    expect(r.outcome, r.detail).toBe("ok")
  })
})
