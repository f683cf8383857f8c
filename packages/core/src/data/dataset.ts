/**
 * Tasks as text-to-text: a task renders each raw record to an (input, target) pair through
 * templates, and optionally a verbalizer that maps labels to target strings (classification, scored
 * by rank classification over the verbalizer's strings). Loaders for JSONL, CSV/TSV and Parquet
 * stream the file (`readers.ts`), render each record as it arrives (texts cut to a budget before
 * they are kept) and report the file and line of every bad record.
 */
import { Effect, Result } from "effect"
import { DataError } from "../errors.ts"
import { readRecords } from "./readers.ts"
import { makeFormattedDataset } from "./t5-formats.ts"
import { truncateUnits } from "./text.ts"
import type { Dataset, Example, RawRecord, TaskDef, TextBudget } from "./types.ts"

export type { Dataset, Example, IndexedDataset, RawRecord, TaskDef, TextBudget, TrainSet } from "./types.ts"

/** The default task for `{"input": …, "target": …}` lines. */
export const plainTask = (name: string): TaskDef => ({ name, input: "{input}", target: "{target}", metrics: ["exact_match"] })

/**
 * A task over a table's columns: `input` and `target` are each a column name (`premise`) or a
 * template (`"premise: {premise} hypothesis: {hypothesis}"`), so a Hub dataset needs no conversion.
 */
export const columnTask = (name: string, input = "input", target = "target"): TaskDef => ({
  name,
  input: input.includes("{") ? input : `{${input}}`,
  target: target.includes("{") ? target : `{${target}}`,
  metrics: ["exact_match"],
})

const FIELD = /\{([A-Za-z0-9_.-]+)\}/g

/** The fields a task's templates read (what a columnar reader needs to decode). */
export const fieldsOf = (task: TaskDef): string[] => [
  ...new Set([...task.input.matchAll(FIELD), ...task.target.matchAll(FIELD)].map((m) => m[1])),
]

/** Units kept per token of `--max-source`/`--max-target`: generous, as a token covers at most a piece of ~16 characters. */
export const UNITS_PER_TOKEN = 32

const render = (
  template: string,
  rec: RawRecord,
  file: string,
  line: number,
  budget = Number.POSITIVE_INFINITY,
): Result.Result<string, DataError> => {
  let missing: string | undefined
  const out = template.replace(FIELD, (_, f: string) => {
    const v = rec[f]
    if (v === undefined || v === null || typeof v === "object") {
      missing ??= f
      return ""
    }
    // a huge field is cut before it is copied into the text
    const text = String(v)
    return text.length > budget ? truncateUnits(text, budget) : text
  })
  return missing === undefined
    ? Result.succeed(out.length > budget ? truncateUnits(out, budget) : out)
    : Result.fail(new DataError({ file, line, field: missing, message: `record has no text field "${missing}"` }))
}

/** Renders one record of `task` into an example (labels checked against the verbalizer). */
export const makeRenderer = (task: TaskDef, file: string, budget: TextBudget = {}) => {
  const labels = task.verbalizer ? Object.keys(task.verbalizer) : undefined
  const candidates = task.verbalizer ? Object.values(task.verbalizer) : undefined
  return (line: number, rec: RawRecord): Result.Result<Example, DataError> =>
    Result.gen(function* () {
      const input = yield* render(task.input, rec, file, line, budget.input)
      if (labels && candidates) {
        const raw = yield* render(task.target, rec, file, line)
        const label = labels.indexOf(raw)
        if (label < 0) {
          return yield* Result.fail(
            new DataError({
              file,
              line,
              field: task.target.replace(/[{}]/g, ""),
              message: `unknown label ${JSON.stringify(raw)}; known: ${labels.join(", ")}`,
            }),
          )
        }
        return { input, target: candidates[label], label }
      }
      return { input, target: yield* render(task.target, rec, file, line, budget.target) }
    })
}

const finish = (task: TaskDef, file: string, examples: Example[]): Result.Result<Dataset, DataError> => {
  if (examples.length === 0) return Result.fail(new DataError({ file, line: 0, field: "(file)", message: "no examples" }))
  const candidates = task.verbalizer ? Object.values(task.verbalizer) : undefined
  return Result.succeed({ task, file, examples, ...(candidates ? { candidates } : {}) })
}

/** Renders raw records (with their 1-based line numbers) into a dataset. */
export const makeDataset = (
  task: TaskDef,
  records: ReadonlyArray<readonly [number, RawRecord]>,
  file: string,
): Result.Result<Dataset, DataError> => {
  if (task.format) return makeFormattedDataset({ ...task, format: task.format }, records, file)
  if (records.length === 0) return finish(task, file, [])
  const renderOne = makeRenderer(task, file)
  const examples: Example[] = []
  for (const [line, rec] of records) {
    const e = renderOne(line, rec)
    if (Result.isFailure(e)) return Result.fail(e.failure)
    examples.push(e.success)
  }
  return finish(task, file, examples)
}

/** Longest JSONL line parsed (a longer one is a typed error, not a multi-GB parse). */
export const MAX_LINE_CHARS = 8 << 20

/** Parses JSONL text: one object per non-empty line. */
export const parseJsonl = (text: string, file: string): Result.Result<Array<readonly [number, RawRecord]>, DataError> => {
  const out: Array<readonly [number, RawRecord]> = []
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].length > MAX_LINE_CHARS)
      return Result.fail(
        new DataError({
          file,
          line: i + 1,
          field: "(line)",
          message: `line of ${lines[i].length} characters is longer than the limit of ${MAX_LINE_CHARS}`,
        }),
      )
    const line = lines[i].trim()
    if (line === "") continue
    let v: unknown
    try {
      v = JSON.parse(line)
    } catch (e) {
      return Result.fail(
        new DataError({ file, line: i + 1, field: "(line)", message: `not valid JSON: ${(e as Error).message}` }),
      )
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      return Result.fail(new DataError({ file, line: i + 1, field: "(line)", message: "each line must be a JSON object" }))
    }
    out.push([i + 1, v as RawRecord])
  }
  return Result.succeed(out)
}

/** Parses CSV or TSV with a header row (RFC 4180 quoting). */
export const parseDelimited = (
  text: string,
  file: string,
  sep: "," | "\t",
): Result.Result<Array<readonly [number, RawRecord]>, DataError> => {
  const rows: Array<{ line: number; cells: string[] }> = []
  let cells: string[] = []
  let cell = ""
  let quoted = false
  let line = 1
  let rowLine = 1
  for (let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; i < text.length; i++) {
    const ch = text[i]
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"'
        i++
      } else if (ch === '"') quoted = false
      else {
        if (ch === "\n") line++
        cell += ch
      }
    } else if (ch === '"' && cell === "") quoted = true
    else if (ch === sep) {
      cells.push(cell)
      cell = ""
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++
      cells.push(cell)
      if (cells.some((c) => c !== "")) rows.push({ line: rowLine, cells })
      cells = []
      cell = ""
      line++
      rowLine = line
    } else cell += ch
  }
  if (quoted) return Result.fail(new DataError({ file, line: rowLine, field: "(line)", message: "unterminated quoted field" }))
  cells.push(cell)
  if (cells.some((c) => c !== "")) rows.push({ line: rowLine, cells })
  if (rows.length === 0) return Result.succeed([])
  const header = rows[0].cells
  const out: Array<readonly [number, RawRecord]> = []
  for (const r of rows.slice(1)) {
    if (r.cells.length !== header.length) {
      return Result.fail(
        new DataError({
          file,
          line: r.line,
          field: "(line)",
          message: `has ${r.cells.length} fields, the header has ${header.length}`,
        }),
      )
    }
    out.push([r.line, Object.fromEntries(header.map((h, i) => [h, r.cells[i]]))])
  }
  return Result.succeed(out)
}

/**
 * Loads a JSONL, CSV/TSV or Parquet file (by extension) as a dataset of `task`, streaming: records
 * are rendered as they are read and only the examples (texts cut to `budget`) are kept. Several
 * files (Parquet shards of one split) form one dataset.
 */
export const loadDataset = (file: string | readonly string[], task: TaskDef, budget: TextBudget = {}) =>
  Effect.gen(function* () {
    const files = typeof file === "string" ? [file] : file
    const name = files.join(",")
    const examples: Example[] = []
    if (task.format) {
      // T5-formatted tasks (GLUE/SuperGLUE presets) read whole records: their formats span fields
      const records: Array<readonly [number, RawRecord]> = []
      for (const f of files) {
        yield* readRecords(f, (line, rec) => {
          records.push([line, rec])
          return Result.void
        })
      }
      return yield* Effect.fromResult(makeFormattedDataset({ ...task, format: task.format }, records, name))
    }
    const columns = fieldsOf(task)
    for (const f of files) {
      const renderOne = makeRenderer(task, f, budget)
      yield* readRecords(
        f,
        (line, rec) =>
          Result.map(renderOne(line, rec), (e) => {
            examples.push(e)
          }),
        columns,
      )
    }
    return yield* Effect.fromResult(finish(task, name, examples))
  })

/**
 * The classification task of `task` when its targets take the distinct `targets` (sorted, as
 * classes): undefined when they are more than `maxClasses` or fewer than two.
 */
export const classesOf = (
  task: TaskDef,
  targets: Iterable<string>,
  maxClasses = 20,
): { task: TaskDef; candidates: string[] } | undefined => {
  const values = [...new Set(targets)].sort()
  if (values.length > maxClasses || values.length < 2) return undefined
  const verbalizer = Object.fromEntries(values.map((v) => [v, v]))
  return {
    task: {
      ...task,
      target: "{target}",
      verbalizer,
      metrics: ["accuracy", ...task.metrics.filter((m) => m !== "exact_match" && m !== "accuracy")],
    },
    candidates: values,
  }
}

/** A classification task inferred from a plain dataset whose targets take few distinct values. */
export const inferClassification = (ds: Dataset, maxClasses = 20): Dataset => {
  if (ds.candidates) return ds
  const c = classesOf(
    ds.task,
    ds.examples.map((e) => e.target),
    maxClasses,
  )
  if (c === undefined) return ds
  const { candidates } = c
  return { ...ds, ...c, examples: ds.examples.map((e) => ({ ...e, label: candidates.indexOf(e.target) })) }
}

/** Applies another split's classification (its verbalizer) to `ds`, failing on unknown labels. */
export const withClassesOf = (ds: Dataset, like: Pick<Dataset, "task" | "candidates">): Result.Result<Dataset, DataError> => {
  if (!like.candidates) return Result.succeed(ds)
  const examples: Example[] = []
  for (let i = 0; i < ds.examples.length; i++) {
    const e = ds.examples[i]
    const label = like.candidates.indexOf(e.target)
    if (label < 0) {
      return Result.fail(
        new DataError({
          file: ds.file,
          line: i + 1,
          field: "target",
          message: `unknown label ${JSON.stringify(e.target)}; known: ${like.candidates.join(", ")}`,
        }),
      )
    }
    examples.push({ ...e, label })
  }
  return Result.succeed({ ...ds, task: like.task, candidates: like.candidates, examples })
}
