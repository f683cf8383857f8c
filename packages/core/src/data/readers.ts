/**
 * Data files read as streams, record by record: JSONL (one object a line), CSV/TSV (through
 * `csv-parse`: BOM, quotes, CRLF, embedded newlines) and Parquet (through `hyparquet`, one row group at
 * a time by positioned reads). Each record goes to a callback with its 1-based line (row for Parquet)
 * and is not kept here, so memory is bounded by the largest record, not the file.
 */
import { parse as parseCsv } from "csv-parse/sync"
import { Effect, FileSystem, Result, Stream } from "effect"
import { type AsyncBuffer, parquetMetadataAsync, parquetReadObjects } from "hyparquet"
import { DataError } from "../errors.ts"
import { fileError, jsonRecord, type RawRecord } from "./text.ts"

export type { RawRecord } from "./text.ts"
export { fileError, jsonRecord, truncateUnits } from "./text.ts"

export type Format = "jsonl" | "csv" | "tsv" | "parquet"
/** Receives each record; a failure stops the read. */
export type OnRecord = (line: number, record: RawRecord) => Result.Result<void, DataError>

/** The format of a data file by its extension (`.json` is read as JSON lines, as the Hub's exports are). */
export const formatOf = (file: string): Format =>
  /\.parquet$/i.test(file) ? "parquet" : /\.csv$/i.test(file) ? "csv" : /\.tsv$/i.test(file) ? "tsv" : "jsonl"

/** Decoded text chunks of a file (UTF-8, a leading BOM dropped), streamed. */
const textChunks = (file: string, onText: (text: string, last: boolean) => Result.Result<void, DataError>) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const decoder = new TextDecoder("utf-8")
    yield* fs.stream(file, { chunkSize: 1 << 20 }).pipe(
      Stream.mapError(fileError(file)),
      Stream.runForEach((bytes) => Effect.fromResult(onText(decoder.decode(bytes, { stream: true }), false))),
    )
    yield* Effect.fromResult(onText(decoder.decode(), true))
  })

/** Streams a JSONL file: one JSON object per non-empty line. */
export const readJsonl = (file: string, onRecord: OnRecord) => {
  // the unfinished line's pieces, joined once its newline arrives: a long line costs its length, not its square
  let parts: string[] = []
  let line = 0
  const emit = (text: string): Result.Result<void, DataError> => {
    line++
    const t = text.trim()
    if (t === "") return Result.void
    return Result.flatMap(jsonRecord(t, file, line), (rec) => onRecord(line, rec))
  }
  return textChunks(file, (text, last) => {
    let start = 0
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", start)) {
      const piece = text.slice(start, nl)
      const r = emit(parts.length > 0 ? parts.join("") + piece : piece)
      parts = []
      if (Result.isFailure(r)) return r
      start = nl + 1
    }
    if (start < text.length) parts.push(text.slice(start))
    if (last && parts.length > 0) {
      const r = emit(parts.join(""))
      parts = []
      return r
    }
    return Result.void
  })
}

/**
 * Streams a CSV or TSV file with a header row. The text is cut into batches at record boundaries
 * (newlines outside quotes: an even number of quote characters before them) and each batch is
 * parsed by `csv-parse` with the header's column names. Records are numbered by the line they start
 * on; CRLF line endings (also inside quoted fields) are read as LF.
 */
export const readDelimited = (file: string, delimiter: "," | "\t", onRecord: OnRecord) => {
  let pending = ""
  let scanned = 0
  let inQuote = false
  let boundary = -1
  let columns: string[] | undefined
  let linesBefore = 0
  const parseBatch = (crlf: string): Result.Result<void, DataError> => {
    // CRLF read as LF (also inside quoted fields), so that csv-parse counts lines as the file has them
    const text = crlf.replace(/\r\n/g, "\n")
    let rows: Array<{ record: Record<string, string>; info: { lines: number } }>
    try {
      rows = parseCsv(text, {
        delimiter,
        columns: columns ?? ((header: string[]) => header),
        bom: true,
        info: true,
        skip_empty_lines: true,
        relax_column_count: false,
      }) as typeof rows
    } catch (e) {
      const err = e as { message: string; lines?: number; column?: string }
      return Result.fail(
        new DataError({ file, line: linesBefore + (err.lines ?? 0), field: err.column ?? "(line)", message: err.message }),
      )
    }
    for (const row of rows) {
      columns ??= Object.keys(row.record)
      // info.lines is the line a record ends on; it starts that many embedded newlines earlier
      let inner = 0
      for (const v of Object.values(row.record)) for (let i = v.indexOf("\n"); i >= 0; i = v.indexOf("\n", i + 1)) inner++
      const r = onRecord(linesBefore + row.info.lines - inner, row.record)
      if (Result.isFailure(r)) return r
    }
    if (columns === undefined && rows.length === 0) {
      // a header-only batch: take the column names from its first line
      const first = text.replace(/^\ufeff/, "").split(/\r?\n/)[0]
      if (first.trim() !== "") columns = parseCsv(first, { delimiter, bom: true })[0] as string[]
    }
    linesBefore += (text.match(/\n/g) ?? []).length
    return Result.void
  }
  return textChunks(file, (text, last) => {
    pending += text
    for (let i = scanned; i < pending.length; i++) {
      const c = pending.charCodeAt(i)
      if (c === 34) inQuote = !inQuote
      else if (c === 10 && !inQuote) boundary = i
    }
    scanned = pending.length
    if (last) {
      const rest = pending
      pending = ""
      return rest.trim() === "" ? Result.void : parseBatch(rest)
    }
    if (boundary < 0 || (boundary < 1 << 20 && columns !== undefined)) return Result.void
    const batch = pending.slice(0, boundary + 1)
    pending = pending.slice(boundary + 1)
    scanned = pending.length
    boundary = -1
    // quote state carries over: the cut is outside quotes, so the rest was scanned from that state
    return parseBatch(batch)
  })
}

/** A file handle as hyparquet's `AsyncBuffer`: every slice is one positioned read. */
const asyncBufferOf = (handle: FileSystem.File, size: number): AsyncBuffer => ({
  byteLength: size,
  slice: (start, end) =>
    Effect.runPromise(
      Effect.gen(function* () {
        const stop = Math.min(end ?? size, size)
        const out = new Uint8Array(Math.max(0, stop - start))
        let done = 0
        while (done < out.length) {
          const n = yield* handle.read(out.subarray(done), { position: BigInt(start + done) })
          if (n === 0) break
          done += n
        }
        return out.buffer
      }),
    ),
})

/** Reads a Parquet file one row group at a time, only the `columns` asked for (all when undefined). */
export const readParquet = (file: string, onRecord: OnRecord, columns?: readonly string[]) =>
  Effect.scoped(
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const handle = yield* fs.open(file, { flag: "r" }).pipe(Effect.mapError(fileError(file)))
      const size = Number((yield* handle.stat.pipe(Effect.mapError(fileError(file)))).size)
      const buffer = asyncBufferOf(handle, size)
      const meta = yield* Effect.tryPromise({
        try: () => parquetMetadataAsync(buffer),
        catch: (e) => new DataError({ file, line: 0, field: "(file)", message: `not a Parquet file: ${(e as Error).message}` }),
      })
      const names = meta.schema.slice(1).map((s) => s.name)
      const missing = (columns ?? []).filter((c) => !names.includes(c))
      if (missing.length > 0) {
        return yield* new DataError({
          file,
          line: 0,
          field: missing[0],
          message: `no column ${missing[0]}; the file has ${names.join(", ")}`,
        })
      }
      let row = 0
      for (const group of meta.row_groups) {
        const n = Number(group.num_rows)
        const rows = yield* Effect.tryPromise({
          try: () =>
            parquetReadObjects({
              file: buffer,
              metadata: meta,
              rowStart: row,
              rowEnd: row + n,
              ...(columns ? { columns: [...columns] } : {}),
            }),
          catch: (e) => new DataError({ file, line: row + 1, field: "(row group)", message: (e as Error).message }),
        })
        for (let i = 0; i < rows.length; i++) yield* Effect.fromResult(onRecord(row + i + 1, rows[i]))
        row += n
      }
    }),
  )

/** Streams any supported data file to `onRecord`; `columns` narrows what a Parquet reader decodes. */
export const readRecords = (file: string, onRecord: OnRecord, columns?: readonly string[]) => {
  switch (formatOf(file)) {
    case "parquet":
      return readParquet(file, onRecord, columns)
    case "csv":
      return readDelimited(file, ",", onRecord)
    case "tsv":
      return readDelimited(file, "\t", onRecord)
    default:
      return readJsonl(file, onRecord)
  }
}
