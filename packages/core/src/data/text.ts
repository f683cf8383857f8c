/**
 * Text helpers of the data readers that need no parser library: a JSON line as a record, a file
 * error as a `DataError`, and the cut of a text to a budget. Kept apart from `readers.ts` so that
 * code using only these (the indexed training sets, rendering) does not bring in `csv-parse` or
 * `hyparquet` (a browser bundle would otherwise carry csv-parse, which needs Node's `Buffer`).
 */
import { Result } from "effect"
import { DataError } from "../errors.ts"

export type RawRecord = Readonly<Record<string, unknown>>

export const fileError = (file: string) => (e: { readonly message: string }) =>
  new DataError({ file, line: 0, field: "(file)", message: e.message })

export const jsonRecord = (text: string, file: string, line: number): Result.Result<RawRecord, DataError> => {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (e) {
    return Result.fail(new DataError({ file, line, field: "(line)", message: `not valid JSON: ${(e as Error).message}` }))
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    return Result.fail(new DataError({ file, line, field: "(line)", message: "each line must be a JSON object" }))
  }
  return Result.succeed(v as RawRecord)
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
/**
 * A copy of `s` that does not share its parent's storage: engines keep a slice as a view of the
 * whole string (V8's sliced strings), which would keep every huge record alive behind its short prefix.
 */
const detach = (s: string): string => decoder.decode(encoder.encode(s))

/**
 * The prefix of `text` that holds at most `units` units, where a unit is one character and a run of
 * whitespace counts once (tokenizers fold runs of spaces). No tokenizer turns fewer than one unit
 * into a token, so cutting at `maxTokens × longest piece` units never changes the first `maxTokens`
 * tokens except through the last word; callers pass a generous multiple.
 */
export const truncateUnits = (text: string, units: number): string => {
  if (text.length <= units) return text
  let n = 0
  let space = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    const ws = c === 32 || c === 9 || c === 10 || c === 13
    if (!(ws && space)) n++
    space = ws
    if (n > units) {
      // never cut a surrogate pair in half
      const hi = text.charCodeAt(i - 1)
      return detach(text.slice(0, hi >= 0xd800 && hi < 0xdc00 ? i - 1 : i))
    }
  }
  return text
}
