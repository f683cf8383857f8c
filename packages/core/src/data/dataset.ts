/**
 * Tasks as text-to-text: a task renders each raw record to an (input, target) pair through
 * templates, and optionally a verbalizer that maps labels to target strings (classification, scored
 * by rank classification over the verbalizer's strings). Loaders for JSONL and CSV/TSV report the
 * file and line of every bad record.
 */
import { Effect, FileSystem, Result } from "effect"
import { DataError } from "../errors.ts"
import type { MetricName } from "../train/metrics.ts"

export type RawRecord = Readonly<Record<string, unknown>>

export interface TaskDef {
  readonly name: string
  /** Input template: `{field}` is replaced by the record's field. */
  readonly input: string
  /** Target template (free-form tasks) or the label field (`{label}`) with a verbalizer. */
  readonly target: string
  /** Label value → target text. Makes the task a classification task. */
  readonly verbalizer?: Readonly<Record<string, string>>
  readonly metrics: readonly MetricName[]
  /** Label treated as positive by F1 / Matthews. */
  readonly positive?: string
}

export interface Example {
  readonly input: string
  readonly target: string
  /** Index into the verbalizer's candidates for classification tasks. */
  readonly label?: number
}

export interface Dataset {
  readonly task: TaskDef
  readonly file: string
  readonly examples: readonly Example[]
  /** Target strings of the classes (classification only), in verbalizer order. */
  readonly candidates?: readonly string[]
}

/** The default task for `{"input": …, "target": …}` lines. */
export const plainTask = (name: string): TaskDef => ({ name, input: "{input}", target: "{target}", metrics: ["exact_match"] })

const FIELD = /\{([A-Za-z0-9_.-]+)\}/g

const render = (template: string, rec: RawRecord, file: string, line: number): Result.Result<string, DataError> => {
  let missing: string | undefined
  const out = template.replace(FIELD, (_, f: string) => {
    const v = rec[f]
    if (v === undefined || v === null || typeof v === "object") {
      missing ??= f
      return ""
    }
    return String(v)
  })
  return missing === undefined
    ? Result.succeed(out)
    : Result.fail(new DataError({ file, line, field: missing, message: `record has no text field "${missing}"` }))
}

/** Renders raw records (with their 1-based line numbers) into a dataset. */
export const makeDataset = (
  task: TaskDef,
  records: ReadonlyArray<readonly [number, RawRecord]>,
  file: string,
): Result.Result<Dataset, DataError> =>
  Result.gen(function* () {
    if (records.length === 0) return yield* Result.fail(new DataError({ file, line: 0, field: "(file)", message: "no examples" }))
    const labels = task.verbalizer ? Object.keys(task.verbalizer) : undefined
    const candidates = task.verbalizer ? Object.values(task.verbalizer) : undefined
    const examples: Example[] = []
    for (const [line, rec] of records) {
      const input = yield* render(task.input, rec, file, line)
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
        examples.push({ input, target: candidates[label], label })
      } else {
        examples.push({ input, target: yield* render(task.target, rec, file, line) })
      }
    }
    return { task, file, examples, ...(candidates ? { candidates } : {}) }
  })

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
  for (let i = 0; i < text.length; i++) {
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

/** Loads a JSONL, CSV or TSV file (by extension) as a dataset of `task`. */
export const loadDataset = (file: string, task: TaskDef) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs
      .readFileString(file)
      .pipe(Effect.mapError((e) => new DataError({ file, line: 0, field: "(file)", message: e.message })))
    const records = file.endsWith(".csv")
      ? parseDelimited(text, file, ",")
      : file.endsWith(".tsv")
        ? parseDelimited(text, file, "\t")
        : parseJsonl(text, file)
    return yield* Effect.fromResult(Result.flatMap(records, (r) => makeDataset(task, r, file)))
  })

/** A classification task inferred from a plain dataset whose targets take few distinct values. */
export const inferClassification = (ds: Dataset, maxClasses = 20): Dataset => {
  if (ds.candidates) return ds
  const values = [...new Set(ds.examples.map((e) => e.target))].sort()
  if (values.length > maxClasses || values.length < 2) return ds
  const verbalizer = Object.fromEntries(values.map((v) => [v, v]))
  return {
    ...ds,
    task: {
      ...ds.task,
      target: "{target}",
      verbalizer,
      metrics: ["accuracy", ...ds.task.metrics.filter((m) => m !== "exact_match" && m !== "accuracy")],
    },
    candidates: values,
    examples: ds.examples.map((e) => ({ ...e, label: values.indexOf(e.target) })),
  }
}

/** Applies another split's classification (its verbalizer) to `ds`, failing on unknown labels. */
export const withClassesOf = (ds: Dataset, like: Dataset): Result.Result<Dataset, DataError> => {
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
