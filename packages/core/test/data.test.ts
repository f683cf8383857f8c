import { readFileSync } from "node:fs"
import { Batching, Benchmarks, Data, Tokenizers } from "@spot/core"
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { SHARED } from "./fixtures.ts"

describe("tokenizers", () => {
  it("reproduces the T5-style tokenizer fixture exactly", () => {
    const dir = `${SHARED}/fixtures/t5-style-tokenizer`
    const tok = Result.getOrThrow(
      Tokenizers.fromTokenizerJson(
        JSON.parse(readFileSync(`${dir}/tokenizer.json`, "utf8")),
        JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, "utf8")),
      ),
    )
    const ref = JSON.parse(readFileSync(`${dir}/reference.json`, "utf8")) as {
      cases: { text: string; ids: number[]; decoded: string }[]
    }
    expect(ref.cases.length).toBeGreaterThan(3)
    for (const c of ref.cases) {
      expect(tok.encode(c.text)).toEqual(c.ids)
      expect(tok.decode(c.ids)).toBe(c.decoded)
    }
    expect(tok.eosId).toBe(1)
    expect(tok.padId).toBe(0)
  })
  it("byte tokenizer: ids are bytes + 3 with EOS, and decode inverts encode", () => {
    expect(Tokenizers.byteTokenizer.encode("Hi")).toEqual([72 + 3, 105 + 3, 1])
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (s) => {
        const ids = Tokenizers.byteTokenizer.encode(s)
        expect(ids[ids.length - 1]).toBe(1)
        expect(ids.every((i) => i >= 1 && i < 259)).toBe(true)
        expect(Tokenizers.byteTokenizer.decode(ids)).toBe(s)
      }),
    )
  })
})

describe("datasets", () => {
  const task = Data.plainTask("t")
  it("names the file and line of a malformed JSONL record", () => {
    const r = Result.flatMap(Data.parseJsonl('{"input":"a","target":"b"}\n\n{"input": oops}\n', "f.jsonl"), (x) =>
      Data.makeDataset(task, x, "f.jsonl"),
    )
    expect(Result.isFailure(r) && r.failure).toMatchObject({ _tag: "DataError", file: "f.jsonl", line: 3 })
    const arr = Data.parseJsonl('{"input":"a","target":"b"}\n[1,2]\n', "g.jsonl")
    expect(Result.isFailure(arr) && arr.failure).toMatchObject({ file: "g.jsonl", line: 2 })
  })
  it("names the missing field and the unknown label", () => {
    const recs = Result.getOrThrow(Data.parseJsonl('{"input":"a","target":"b"}\n{"input":"c"}\n', "h.jsonl"))
    expect(
      Result.isFailure(Data.makeDataset(task, recs, "h.jsonl")) && Result.getFailure(Data.makeDataset(task, recs, "h.jsonl")),
    ).toBeTruthy()
    const miss = Data.makeDataset(task, recs, "h.jsonl")
    expect(Result.isFailure(miss) && miss.failure).toMatchObject({ file: "h.jsonl", line: 2, field: "target" })
    const cls: Data.TaskDef = {
      name: "c",
      input: "{input}",
      target: "{label}",
      verbalizer: { yes: "yes", no: "no" },
      metrics: ["accuracy"],
    }
    const bad = Data.makeDataset(cls, [[7, { input: "x", label: "maybe" }]], "c.jsonl")
    expect(Result.isFailure(bad) && bad.failure).toMatchObject({ line: 7, field: "label" })
    expect(Result.isFailure(bad) && bad.failure.message).toContain("maybe")
  })
  it("rejects an empty split", () => {
    const r = Data.makeDataset(task, [], "empty.jsonl")
    expect(Result.isFailure(r) && r.failure).toMatchObject({ _tag: "DataError", file: "empty.jsonl" })
  })
  it("parses CSV/TSV with quotes and reports ragged rows", () => {
    const rows = Result.getOrThrow(Data.parseDelimited('input,target\n"a, ""b""",yes\nc,no\n', "x.csv", ","))
    expect(rows.map((r) => r[1])).toEqual([
      { input: 'a, "b"', target: "yes" },
      { input: "c", target: "no" },
    ])
    expect(rows.map((r) => r[0])).toEqual([2, 3])
    const bad = Data.parseDelimited("input\ttarget\na\tb\tc\n", "x.tsv", "\t")
    expect(Result.isFailure(bad) && bad.failure).toMatchObject({ file: "x.tsv", line: 2 })
  })
  it("infers classification from few distinct targets and maps validation labels", () => {
    const recs = Result.getOrThrow(Data.parseJsonl('{"input":"a","target":"yes"}\n{"input":"b","target":"no"}\n', "t.jsonl"))
    const ds = Data.inferClassification(Result.getOrThrow(Data.makeDataset(task, recs, "t.jsonl")))
    expect(ds.candidates).toEqual(["no", "yes"])
    expect(ds.examples.map((e) => e.label)).toEqual([1, 0])
    const v = Result.getOrThrow(Data.makeDataset(task, [[1, { input: "c", target: "perhaps" }]], "v.jsonl"))
    const mapped = Data.withClassesOf(v, ds)
    expect(Result.isFailure(mapped) && mapped.failure).toMatchObject({ _tag: "DataError", file: "v.jsonl" })
  })
})

describe("batching and mixtures", () => {
  it("mixing rates: sum to one, the cap limits large tasks, high temperature approaches uniform", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 100000 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 5000 }),
        (sizes, cap) => {
          const r = Batching.mixingRates(sizes, { cap })
          expect(r.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9)
          const capped = sizes.map((s) => Math.min(s, cap))
          const total = capped.reduce((a, b) => a + b, 0)
          r.forEach((x, i) => {
            expect(x).toBeCloseTo(capped[i] / total, 9)
          })
          const hot = Batching.mixingRates(sizes, { temperature: 1e9 })
          hot.forEach((x) => {
            expect(x).toBeCloseTo(1 / sizes.length, 6)
          })
        },
      ),
    )
  })
  it("mixture draws follow the rates within tolerance and are deterministic per (seed, step)", () => {
    const sizes = [1000, 300, 50]
    const rates = Batching.mixingRates(sizes, { cap: 500 })
    const counts = [0, 0, 0]
    const B = 64
    for (let step = 0; step < 200; step++) for (const [t] of Batching.mixtureIndices(sizes, rates, B, 7, step)) counts[t]++
    const n = 200 * B
    counts.forEach((c, i) => {
      expect(Math.abs(c / n - rates[i])).toBeLessThan(0.015)
    })
    expect(Batching.mixtureIndices(sizes, rates, B, 7, 13)).toEqual(Batching.mixtureIndices(sizes, rates, B, 7, 13))
    expect(Batching.mixtureIndices(sizes, rates, B, 8, 13)).not.toEqual(Batching.mixtureIndices(sizes, rates, B, 7, 13))
  })
  it("one epoch visits every example once", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 8 }), fc.nat(), (n, B, seed) => {
        const steps = Math.ceil((n * 2) / B)
        const seen: number[] = []
        for (let s = 0; s < steps; s++) seen.push(...Batching.batchIndices(n, B, seed, s))
        expect([...seen.slice(0, n)].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i))
      }),
    )
  })
  it("pads to buckets, truncates keeping EOS and counts truncations", () => {
    const ds: Data.Dataset = {
      task: Data.plainTask("x"),
      file: "x",
      examples: [
        { input: "abcdefghij", target: "z" },
        { input: "ab", target: "yy" },
      ],
    }
    const { items, truncated } = Batching.encodeDataset(ds, Tokenizers.byteTokenizer, { maxSource: 6, maxTarget: 8 })
    expect(truncated).toBe(1)
    expect(items[0].src).toHaveLength(6)
    expect(items[0].src[5]).toBe(1)
    const b = Batching.makeBatch(items, { rows: 4, padId: 0, bucket: 8 })
    expect(b.inputIds.shape).toEqual([4, 8])
    expect(b.labels.shape).toEqual([4, 8])
    expect(Array.from(b.labels.data.slice(0, 3))).toEqual([122 + 3, 1, -100])
    expect(Array.from(b.attentionMask.data.slice(8, 16))).toEqual([1, 1, 1, 0, 0, 0, 0, 0])
  })
})

describe("GLUE and SuperGLUE definitions", () => {
  it("render Hugging Face records text-to-text and reject unknown labels by line", () => {
    const rec = { sentence1: "A man plays.", sentence2: "Someone plays.", label: 0 }
    const ds = Result.getOrThrow(Data.makeDataset(Benchmarks.GLUE.rte, [[1, rec]], "rte.jsonl"))
    expect(ds.examples[0]).toEqual({
      input: "rte sentence1: A man plays. sentence2: Someone plays.",
      target: "entailment",
      label: 0,
    })
    expect(ds.candidates).toEqual(["entailment", "not_entailment"])
    const bad = Data.makeDataset(Benchmarks.SUPERGLUE.cb, [[4, { premise: "p", hypothesis: "h", label: 7 }]], "cb.jsonl")
    expect(Result.isFailure(bad) && bad.failure).toMatchObject({ _tag: "DataError", file: "cb.jsonl", line: 4, field: "label" })
    const missing = Data.makeDataset(Benchmarks.GLUE.mrpc, [[2, { sentence1: "x", label: 1 }]], "mrpc.jsonl")
    expect(Result.isFailure(missing) && missing.failure).toMatchObject({ line: 2, field: "sentence2" })
    for (const t of [...Object.values(Benchmarks.GLUE), ...Object.values(Benchmarks.SUPERGLUE)])
      expect(t.metrics.length).toBeGreaterThan(0)
  })
  it("benchmark averages: the mean of per-task means", () => {
    expect(Benchmarks.taskScore({ f1: 0.9, accuracy: 0.8 })).toBeCloseTo(0.85)
    expect(
      Benchmarks.benchmarkScore({
        mrpc: { f1: 0.9, accuracy: 0.8 },
        rte: { accuracy: 0.7 },
        stsb: { pearson: 0.6, spearman: 0.4 },
      }),
    ).toBeCloseTo((0.85 + 0.7 + 0.5) / 3)
  })
})

describe("SentencePiece spiece.model", () => {
  // protobuf writer for the test: field key, varint, length-delimited, fixed32
  const varint = (n: number) => {
    const out: number[] = []
    while (n >= 0x80) {
      out.push((n & 0x7f) | 0x80)
      n = Math.floor(n / 128)
    }
    out.push(n)
    return out
  }
  const ld = (no: number, bytes: number[]) => [...varint(no * 8 + 2), ...varint(bytes.length), ...bytes]
  const f32 = (no: number, v: number) => {
    const b = new Uint8Array(4)
    new DataView(b.buffer).setFloat32(0, v, true)
    return [...varint(no * 8 + 5), ...b]
  }
  const vint = (no: number, v: number) => [...varint(no * 8), ...varint(v)]
  const utf8 = (s: string) => [...new TextEncoder().encode(s)]

  it("a spiece.model with the fixture's vocabulary reproduces the fixture's ids", () => {
    const dir = `${SHARED}/fixtures/t5-style-tokenizer`
    const json = JSON.parse(readFileSync(`${dir}/tokenizer.json`, "utf8")) as { model: { vocab: [string, number][] } }
    const pieces = json.model.vocab.flatMap(([p, score]) =>
      ld(1, [...ld(1, utf8(p)), ...f32(2, score), ...vint(3, p === "<unk>" ? 2 : p === "<pad>" || p === "</s>" ? 3 : 1)]),
    )
    const trainer = ld(2, vint(3, 1))
    const normalizer = ld(3, [...ld(1, utf8("identity")), ...vint(3, 1)])
    const model = Uint8Array.from([...pieces, ...trainer, ...normalizer])
    const tok = Result.getOrThrow(Tokenizers.fromSentencePiece(model, "spiece.model"))
    const ref = JSON.parse(readFileSync(`${dir}/reference.json`, "utf8")) as {
      cases: { text: string; ids: number[]; decoded: string }[]
    }
    for (const c of ref.cases) {
      expect(tok.encode(c.text)).toEqual(c.ids)
      expect(tok.decode(c.ids)).toBe(c.decoded)
    }
    expect(tok.eosId).toBe(1)
  })
  it("rejects non-Unigram models and garbage with typed errors", () => {
    const bpe = Uint8Array.from([...ld(1, [...ld(1, utf8("a")), ...f32(2, 0)]), ...ld(2, vint(3, 2))])
    const r = Tokenizers.fromSentencePiece(bpe, "bpe.model")
    expect(Result.isFailure(r) && r.failure.message).toContain("not Unigram")
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        const x = Tokenizers.fromSentencePiece(b, "x.model")
        if (Result.isFailure(x)) expect(x.failure._tag).toBe("InputError")
      }),
      { numRuns: 300 },
    )
  })
})
