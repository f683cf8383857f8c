/**
 * Fuzzing of every parser of untrusted files (issue #15): library manifest and index, resume state,
 * PEFT config, `.npy`, tokenizer.json. Each, on arbitrary input — random JSON, mutated valid files,
 * random bytes — returns a value or a typed error and never throws. Plus the claims the parsers
 * exist for: a valid file round-trips, a numpy-refused header is refused.
 */

import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { checkTokenizerJson, fromTokenizerJson } from "../src/data/tokenizer.ts"
import { decodeSafetensors, encodeSafetensors } from "../src/graph/safetensors.ts"
import type { HostTensor } from "../src/graph/tensor.ts"
import { decodeNpy, encodeNpy, parsePeftConfig } from "../src/library/interchange.ts"
import { describeIo } from "../src/library/io.ts"
import { parseEntryJson, parseLibraryJson } from "../src/library/manifest.ts"
import { parseNpyHeader } from "../src/library/npy.ts"
import { buildIndex, decodeIndex, encodeIndex } from "../src/spot/search.ts"
import { decodeState, encodeState } from "../src/train/state.ts"

const RUNS = { numRuns: 300 }
const tagged = (r: Result.Result<unknown, unknown>) =>
  Result.isSuccess(r) || (typeof r.failure === "object" && r.failure !== null && "_tag" in r.failure)

const t = (rows: number, cols: number, f = (i: number) => i / 7): HostTensor<"f32"> => ({
  dtype: "f32",
  shape: [rows, cols],
  data: Float32Array.from({ length: rows * cols }, (_, i) => f(i)),
})

/** Random edits of a string: replace, delete or insert characters. */
const mutated = (s: string) =>
  fc
    .array(fc.tuple(fc.nat(Math.max(0, s.length)), fc.nat(3), fc.string({ maxLength: 4 })), { maxLength: 6 })
    .map((edits) => edits.reduce((acc, [at, del, ins]) => acc.slice(0, at) + ins + acc.slice(at + del), s))
const mutatedBytes = (b: Uint8Array) =>
  fc.array(fc.tuple(fc.nat(Math.max(0, b.length - 1)), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }).map((edits) => {
    const c = b.slice()
    for (const [i, v] of edits) c[i] = v
    return c
  })

const entry = {
  format: "spot-library/1",
  name: "e",
  task: "t",
  description: "",
  model: { fingerprint: "f", dModel: 4 },
  promptLength: 2,
  created: "x",
  seeds: [{ seed: 0, file: "s.safetensors", metrics: {}, provenance: {} }],
  checksums: { "s.safetensors": "00" },
}

describe("library manifests", () => {
  it("a valid entry.json parses; any JSON value or mutation gives a value or a LibraryError", () => {
    expect(Result.isSuccess(parseEntryJson(JSON.stringify(entry), "L", "e"))).toBe(true)
    fc.assert(
      fc.property(fc.jsonValue(), (j) => tagged(parseEntryJson(JSON.stringify(j), "L", "e"))),
      RUNS,
    )
    fc.assert(
      fc.property(mutated(JSON.stringify(entry)), (s) => tagged(parseEntryJson(s, "L", "e"))),
      RUNS,
    )
    fc.assert(
      fc.property(fc.string(), (s) => tagged(parseLibraryJson(s, "L"))),
      RUNS,
    )
  })
  it("errors name the library and the entry", () => {
    const r = parseEntryJson("null", "/lib", "e")
    expect(Result.isFailure(r) && r.failure.library === "/lib" && r.failure.entry === "e").toBe(true)
  })
})

describe("retrieval index", () => {
  const ix = encodeIndex(
    buildIndex(4, [{ row: { entry: "e", task: "t", seed: 0, fingerprint: "f", promptLength: 2 }, embedding: t(2, 4) }]),
  )
  it("round-trips, and never throws on mutated bytes or hostile rows metadata", () => {
    expect(Result.isSuccess(decodeIndex(ix, "ix"))).toBe(true)
    fc.assert(
      fc.property(mutatedBytes(ix), (b) => tagged(decodeIndex(b, "ix"))),
      RUNS,
    )
    fc.assert(
      fc.property(fc.jsonValue(), fc.string(), (rows, dm) => {
        const bytes = encodeSafetensors(new Map(), { format: "spot-index/1", d_model: dm, rows: JSON.stringify(rows) })
        return tagged(decodeIndex(bytes, "ix"))
      }),
      RUNS,
    )
  })
})

describe("resume state", () => {
  const init = new Map([["prompt", t(2, 4)]])
  const snap = {
    step: 3,
    params: new Map([["prompt", t(2, 4, (i) => i)]]),
    opt: new Map([["prompt", { step: 3, slots: { v: new Float32Array(8) } }]]),
    best: { step: 2, score: 0.5, params: new Map([["prompt", t(2, 4)]]) },
    history: [{ step: 1, loss: 1 }],
  }
  const bytes = encodeState(snap, "key")
  it("round-trips", () => {
    const r = decodeState(bytes, "s", "key", init, 10)
    expect(Result.isSuccess(r) && r.success.step === 3 && r.success.best.score === 0.5).toBe(true)
  })
  it("refuses a step beyond the run, missing fields, wrong shapes, and never throws", () => {
    const meta = (m: Record<string, unknown>) =>
      encodeSafetensors(decodeSafetensorsOk(bytes).tensors, { spot_state: JSON.stringify(m) })
    const base = JSON.parse(decodeSafetensorsOk(bytes).metadata.spot_state)
    for (const bad of [{ step: 1e9 }, { step: undefined }, { history: null }, { opt: 5 }, { bestStep: 7 }]) {
      const r = decodeState(meta({ ...base, ...bad }), "s", "key", init, 10)
      expect(Result.isFailure(r) && r.failure._tag === "CheckpointError").toBe(true)
    }
    expect(Result.isFailure(decodeState(bytes, "s", "key", new Map([["prompt", t(3, 4)]]), 10))).toBe(true)
    fc.assert(
      fc.property(fc.jsonValue(), (j) => tagged(decodeState(meta(j as never), "s", "key", init, 10))),
      RUNS,
    )
    fc.assert(
      fc.property(mutatedBytes(bytes), (b) => tagged(decodeState(b, "s", "key", init, 10))),
      RUNS,
    )
  })
})
const decodeSafetensorsOk = (b: Uint8Array) => Result.getOrThrow(decodeSafetensors(b, "x"))

describe("PEFT config", () => {
  it("accepts a valid config, refuses non-integer sizes, never throws", () => {
    const ok = { peft_type: "PROMPT_TUNING", num_virtual_tokens: 4, token_dim: 8 }
    expect(Result.isSuccess(parsePeftConfig(JSON.stringify(ok), "c"))).toBe(true)
    expect(Result.isFailure(parsePeftConfig(JSON.stringify({ ...ok, num_virtual_tokens: 2.5 }), "c"))).toBe(true)
    fc.assert(
      fc.property(fc.jsonValue(), (j) => tagged(parsePeftConfig(JSON.stringify(j), "c"))),
      RUNS,
    )
    fc.assert(
      fc.property(mutated(JSON.stringify(ok)), (s) => tagged(parsePeftConfig(s, "c"))),
      RUNS,
    )
  })
})

describe(".npy", () => {
  it("round-trips any finite matrix", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), (r, c) => {
        const m = t(r, c, (i) => i * 0.5 - 1)
        const back = decodeNpy(encodeNpy(m))
        return (
          Result.isSuccess(back) &&
          back.success.shape.join() === `${r},${c}` &&
          back.success.data.every((v, i) => v === m.data[i])
        )
      }),
    )
  })
  it("refuses what numpy refuses (repeated/extra/missing keys, non-tuple shape, trailing text)", () => {
    for (const h of [
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'fortran_order': True}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}",
      "{'descr': '<f4', 'shape': (2, 3)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} x",
      "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}",
    ])
      expect(Result.isFailure(parseNpyHeader(h)), h).toBe(true)
    const ok = parseNpyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }")
    expect(Result.isSuccess(ok) && ok.success.shape.join() === "2,3").toBe(true)
  })
  it("never throws on arbitrary headers or mutated files", () => {
    fc.assert(
      fc.property(fc.string(), (s) => Result.isSuccess(parseNpyHeader(s)) || Result.isFailure(parseNpyHeader(s))),
      RUNS,
    )
    fc.assert(
      fc.property(mutatedBytes(encodeNpy(t(2, 3))), (b) => tagged(decodeNpy(b))),
      RUNS,
    )
    fc.assert(
      fc.property(mutated("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), (s) => {
        const r = parseNpyHeader(s)
        return Result.isSuccess(r) || typeof r.failure.message === "string"
      }),
      RUNS,
    )
  })
})

describe("tokenizer.json", () => {
  it("a vocab that is not a list or map is refused with the field named; random JSON never throws", () => {
    const r = fromTokenizerJson({ model: { type: "Unigram", vocab: 5 } })
    expect(Result.isFailure(r) && r.failure.field.includes("model.vocab")).toBe(true)
    fc.assert(
      fc.property(fc.jsonValue(), (j) => checkTokenizerJson(j) === undefined || true),
      RUNS,
    )
    fc.assert(
      fc.property(fc.jsonValue(), (j) => tagged(fromTokenizerJson(j))),
      { numRuns: 100 },
    )
  })
})

describe("I/O errors", () => {
  it("name ENOSPC and EROFS as what they are", () => {
    const e = (code: string) => ({
      _tag: "PlatformError",
      reason: { _tag: "Unknown", module: "FileSystem", method: "writeFile", pathOrDescriptor: "/x/y", cause: { code } },
    })
    expect(describeIo(e("ENOSPC"))).toMatch(/ENOSPC \(no space left on device\).*\/x\/y/)
    expect(describeIo(e("EROFS"))).toMatch(/EROFS \(read-only file system\)/)
  })
})
