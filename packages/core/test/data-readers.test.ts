/**
 * Data files as users have them: CSV with a UTF-8 BOM, quotes, CRLF and embedded newlines (through
 * csv-parse, also across batch boundaries), JSONL read as a stream, Parquet written by a maintained
 * writer (hyparquet-writer), column mapping and templates, and huge records cut before they are kept.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { Data, DataReaders } from "@spot/core"
import { Effect, FileSystem, Result, Stream } from "effect"
import { parquetWriteBuffer } from "hyparquet-writer"
import { describe, expect, it } from "vitest"
import { tempDirs } from "./node-util.ts"

const temp = tempDirs("spot-data-")

const run = <A, E>(eff: Effect.Effect<A, E, FileSystem.FileSystem>) =>
  Effect.runPromise(Effect.result(eff).pipe(Effect.provide(NodeServices.layer)))
const ok = async <A, E>(eff: Effect.Effect<A, E, FileSystem.FileSystem>) => {
  const r = await run(eff)
  if (Result.isFailure(r)) throw new Error(JSON.stringify(r.failure))
  return r.success
}
const collect = (file: string, columns?: string[]) =>
  Effect.gen(function* () {
    const out: Array<[number, Record<string, unknown>]> = []
    yield* DataReaders.readRecords(
      file,
      (line, rec) => {
        out.push([line, { ...rec }])
        return Result.void
      },
      columns,
    )
    return out
  })

describe("CSV/TSV through csv-parse", () => {
  it("keeps the first column name of a file with a UTF-8 BOM; quotes, CRLF and embedded newlines", async () => {
    const file = join(temp(), "bom.csv")
    writeFileSync(file, '\ufeffsentence,label\r\n"a, ""quoted"" one",pos\r\n"two\r\nlines",neg\r\nplain,pos\r\n')
    const rows = await ok(collect(file))
    expect(rows.map(([, r]) => r)).toEqual([
      { sentence: 'a, "quoted" one', label: "pos" },
      { sentence: "two\nlines", label: "neg" },
      { sentence: "plain", label: "pos" },
    ])
    expect(rows.map(([l]) => l)).toEqual([2, 3, 5])
    const ds = await ok(Data.loadDataset(file, Data.columnTask("t", "sentence", "label")))
    expect(ds.examples[0]).toEqual({ input: 'a, "quoted" one', target: "pos" })
  })

  it("streams a multi-MB CSV in batches cut outside quotes, with the records of a plain parse", async () => {
    const n = 30_000
    const want = Array.from({ length: n }, (_, i) => ({
      id: String(i),
      text: i % 7 === 0 ? `line one ${i}\nline "two"\n${"x".repeat(i % 50)}` : `row ${i}, ${"y".repeat(i % 90)}`,
    }))
    const quote = (s: string) => `"${s.replace(/"/g, '""')}"`
    const file = join(temp(), "big.csv")
    writeFileSync(file, `id,text\n${want.map((r) => `${r.id},${quote(r.text)}`).join("\n")}\n`)
    const rows = await ok(collect(file))
    expect(rows.length).toBe(n)
    expect(rows.map(([, r]) => r)).toEqual(want)
  }, 60_000)

  it("a row with the wrong number of fields is a DataError naming file and line", async () => {
    const file = join(temp(), "bad.tsv")
    writeFileSync(file, "input\ttarget\na\tb\nc\td\te\n")
    const r = await run(collect(file))
    expect(Result.isFailure(r)).toBe(true)
    if (Result.isFailure(r)) {
      expect(r.failure._tag).toBe("DataError")
      expect(r.failure.file).toBe(file)
      expect(r.failure.line).toBe(3)
    }
  })
})

describe("JSONL read as a stream", () => {
  it("delivers records while the file is still being read, and never reads it whole", async () => {
    const file = join(temp(), "big.jsonl")
    const lines = Array.from({ length: 40_000 }, (_, i) =>
      JSON.stringify({ input: `example ${i} ${"z".repeat(60)}`, target: String(i % 3) }),
    )
    writeFileSync(file, `${lines.join("\n")}\n`)
    let streamed = 0
    let atFirst = -1
    const counting = Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      return FileSystem.FileSystem.of({
        ...fs,
        readFile: () => Effect.die("the loader must not read the file whole"),
        readFileString: () => Effect.die("the loader must not read the file whole"),
        stream: (p, o) => fs.stream(p, o).pipe(Stream.tap((c) => Effect.sync(() => (streamed += c.length)))),
      })
    })
    let count = 0
    const r = await Effect.runPromise(
      DataReaders.readRecords(file, () => {
        if (count++ === 0) atFirst = streamed
        return Result.void
      }).pipe(Effect.provideServiceEffect(FileSystem.FileSystem, counting), Effect.provide(NodeServices.layer), Effect.result),
    )
    expect(Result.isSuccess(r)).toBe(true)
    expect(count).toBe(40_000)
    const size = lines.join("\n").length + 1
    expect(streamed).toBe(size)
    expect(atFirst).toBeGreaterThan(0)
    expect(atFirst).toBeLessThan(size / 2)
  }, 60_000)

  it("cuts a huge record to the text budget before keeping it", async () => {
    const file = join(temp(), "huge.jsonl")
    const huge = "word ".repeat(2_000_000) // one 10 MB line
    writeFileSync(file, `${JSON.stringify({ input: huge, target: "a" })}\n${JSON.stringify({ input: "short", target: "b" })}\n`)
    const ds = await ok(Data.loadDataset(file, Data.plainTask("h"), { input: 512 * Data.UNITS_PER_TOKEN }))
    expect(ds.examples[0].input.length).toBeLessThanOrEqual(512 * Data.UNITS_PER_TOKEN)
    expect(huge.startsWith(ds.examples[0].input)).toBe(true)
    expect(ds.examples[1]).toEqual({ input: "short", target: "b" })
  })

  it("truncateUnits counts a whitespace run once and never splits a surrogate pair", () => {
    expect(DataReaders.truncateUnits("ab    cd", 4)).toBe("ab    c")
    expect(DataReaders.truncateUnits("a😀b", 2)).toBe("a")
    expect(DataReaders.truncateUnits("short", 10)).toBe("short")
  })
})

describe("Parquet through hyparquet", () => {
  const writeParquet = (file: string, n: number) => {
    const premise = Array.from({ length: n }, (_, i) => `premise ${i}`)
    const hypothesis = Array.from({ length: n }, (_, i) => `hypothesis ${i} é`)
    const label = Array.from({ length: n }, (_, i) => BigInt(i % 2))
    const buf = parquetWriteBuffer({
      columnData: [
        { name: "premise", data: premise, type: "STRING" },
        { name: "hypothesis", data: hypothesis, type: "STRING" },
        { name: "label", data: label, type: "INT64" },
      ],
      rowGroupSize: 100,
    })
    writeFileSync(file, new Uint8Array(buf))
    return { premise, hypothesis, label }
  }

  it("reads a file written by hyparquet-writer row group by row group, with a template", async () => {
    const file = join(temp(), "train-00000-of-00001.parquet")
    const src = writeParquet(file, 250)
    const rows = await ok(collect(file))
    expect(rows.length).toBe(250)
    expect(rows[3]).toEqual([4, { premise: "premise 3", hypothesis: "hypothesis 3 é", label: 1n }])
    const task = Data.columnTask("rte", "premise: {premise} hypothesis: {hypothesis}", "label")
    const ds = await ok(Data.loadDataset(file, task))
    expect(ds.examples.length).toBe(250)
    expect(ds.examples[7]).toEqual({ input: `premise: ${src.premise[7]} hypothesis: ${src.hypothesis[7]}`, target: "1" })
    const cls = Data.inferClassification(ds)
    expect(cls.candidates).toEqual(["0", "1"])
  })

  it("a template naming a missing column is a DataError that lists the file's columns", async () => {
    const file = join(temp(), "x.parquet")
    writeParquet(file, 10)
    const r = await run(Data.loadDataset(file, Data.columnTask("x", "sentence", "label")))
    expect(Result.isFailure(r)).toBe(true)
    if (Result.isFailure(r)) {
      expect(r.failure.field).toBe("sentence")
      expect(r.failure.message).toContain("premise")
    }
  })
})

describe("column tasks", () => {
  it("a column name or a template, and the fields a task reads", () => {
    const t = Data.columnTask("n", "premise: {premise} h: {hypothesis}", "label")
    expect(t.input).toBe("premise: {premise} h: {hypothesis}")
    expect(t.target).toBe("{label}")
    expect(Data.fieldsOf(t)).toEqual(["premise", "hypothesis", "label"])
  })
})
