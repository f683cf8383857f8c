/**
 * The `.npy` header: a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (L, d), }`
 * parsed as numpy's `safe_eval` reads it — strings, booleans, integers, tuples, exactly the keys
 * descr, fortran_order and shape — rather than searched with regular expressions, so that a header
 * numpy refuses (extra or repeated keys, a shape that is not a tuple of non-negative integers, text
 * after the dict) is refused here too, with the field named.
 */
import { Result } from "effect"

export type PyValue = string | boolean | number | PyValue[] | { tuple: PyValue[] } | Map<string, PyValue>

export interface NpyHeader {
  readonly descr: string
  readonly fortranOrder: boolean
  readonly shape: readonly number[]
}

export interface HeaderIssue {
  readonly field: string
  readonly message: string
}

/** Parses one Python literal (the subset numpy writes); fails with the position of the problem. */
export const parsePyLiteral = (text: string): Result.Result<PyValue, HeaderIssue> => {
  let i = 0
  const fail = (message: string): never => {
    throw { field: "header", message: `${message} at character ${i}` } satisfies HeaderIssue
  }
  const ws = () => {
    while (i < text.length && " \t\r\n".includes(text[i])) i++
  }
  const value = (depth: number): PyValue => {
    if (depth > 16) fail("nesting too deep")
    ws()
    const c = text[i]
    if (c === "{") {
      i++
      const m = new Map<string, PyValue>()
      for (;;) {
        ws()
        if (text[i] === "}") {
          i++
          return m
        }
        const k = value(depth + 1)
        if (typeof k !== "string") fail("dict keys must be strings")
        if (m.has(k as string)) fail(`repeated key '${k}'`)
        ws()
        if (text[i] !== ":") fail("expected ':'")
        i++
        m.set(k as string, value(depth + 1))
        ws()
        if (text[i] === ",") i++
        else if (text[i] !== "}") fail("expected ',' or '}'")
      }
    }
    if (c === "(" || c === "[") {
      const close = c === "(" ? ")" : "]"
      i++
      const items: PyValue[] = []
      let comma = false
      for (;;) {
        ws()
        if (text[i] === close) {
          i++
          // (x) is x in Python; (x,) is a one-tuple
          if (c === "(") return items.length === 1 && !comma ? items[0] : { tuple: items }
          return items
        }
        items.push(value(depth + 1))
        ws()
        comma = false
        if (text[i] === ",") {
          i++
          comma = true
        } else if (text[i] !== close) fail(`expected ',' or '${close}'`)
      }
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1)
      if (end < 0) fail("unterminated string")
      const s = text.slice(i + 1, end)
      if (s.includes("\\")) fail("escapes in strings are not supported")
      i = end + 1
      return s
    }
    const word = /^(True|False|[+-]?\d+)/.exec(text.slice(i, i + 32))
    if (!word) return fail(`unexpected ${c === undefined ? "end of header" : `'${c}'`}`)
    i += word[1].length
    if (word[1] === "True") return true
    if (word[1] === "False") return false
    const n = Number(word[1])
    if (!Number.isSafeInteger(n)) fail(`integer ${word[1]} is too large`)
    return n
  }
  try {
    const v = value(0)
    ws()
    if (i !== text.length) fail("text after the literal")
    return Result.succeed(v)
  } catch (e) {
    return Result.fail(e as HeaderIssue)
  }
}

/** Parses and checks a `.npy` header dict. */
export const parseNpyHeader = (text: string): Result.Result<NpyHeader, HeaderIssue> =>
  Result.flatMap(parsePyLiteral(text), (v): Result.Result<NpyHeader, HeaderIssue> => {
    const bad = (field: string, message: string) => Result.fail({ field, message })
    if (!(v instanceof Map)) return bad("header", "is not a dict")
    const keys = [...v.keys()].sort()
    if (keys.join(",") !== "descr,fortran_order,shape")
      return bad("header", `keys are [${keys.join(", ")}], numpy requires exactly descr, fortran_order, shape`)
    const descr = v.get("descr")
    const fortran = v.get("fortran_order")
    const shape = v.get("shape")
    if (typeof descr !== "string") return bad("descr", "must be a string (structured dtypes are not supported)")
    if (typeof fortran !== "boolean") return bad("fortran_order", "must be True or False")
    if (typeof shape !== "object" || shape === null || !("tuple" in shape))
      return bad("shape", "must be a tuple of non-negative integers")
    const dims = shape.tuple
    if (dims.some((d) => typeof d !== "number" || d < 0)) return bad("shape", "must be a tuple of non-negative integers")
    return Result.succeed({ descr, fortranOrder: fortran, shape: dims as number[] })
  })
