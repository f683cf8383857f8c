/**
 * `entry.json` of the directory store: parsed and checked field by field, never trusted. A manifest
 * that is not JSON, not an object, of another format or with a missing or mistyped field is a typed
 * `LibraryError` naming the library, the entry and the field.
 */
import { Result } from "effect"
import { LibraryError } from "../errors.ts"

export const FORMAT = "spot-library/1"

export interface EntryJson {
  format: string
  name: string
  task: string
  description: string
  model: { fingerprint: string; dModel: number }
  promptLength: number
  created: string
  seeds: Array<{ seed: number; file: string; metrics: Record<string, number>; provenance: Record<string, string> }>
  checksums: Record<string, string>
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x)
const posInt = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x > 0
export const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

/** Parses the text of `entries/<name>/entry.json`. */
export const parseEntryJson = (text: string, library: string, name: string): Result.Result<EntryJson, LibraryError> => {
  const bad = (field: string, message: string) =>
    Result.fail(new LibraryError({ library, entry: name, message: `entry.json: ${field}: ${message}` }))
  let j: unknown
  try {
    j = JSON.parse(text)
  } catch {
    return bad("(file)", "not valid JSON")
  }
  if (!isObj(j)) return bad("(file)", `expected an object, got ${j === null ? "null" : Array.isArray(j) ? "a list" : typeof j}`)
  if (j.format !== FORMAT) return bad("format", `${JSON.stringify(j.format)}, expected ${FORMAT}`)
  if (j.name !== name) return bad("name", `${JSON.stringify(j.name)} is not the entry's folder name`)
  for (const k of ["task", "description", "created"] as const)
    if (typeof j[k] !== "string") return bad(k, "missing or not a string")
  const model = j.model
  if (!isObj(model) || typeof model.fingerprint !== "string" || !posInt(model.dModel))
    return bad("model", "must be {fingerprint: string, dModel: positive integer}")
  if (!posInt(j.promptLength)) return bad("promptLength", "must be a positive integer")
  if (!isObj(j.checksums)) return bad("checksums", "must be an object")
  if (!Array.isArray(j.seeds) || j.seeds.length === 0) return bad("seeds", "must be a non-empty list")
  const seen = new Set<number>()
  for (const [i, s] of j.seeds.entries()) {
    if (!isObj(s)) return bad(`seeds[${i}]`, "must be an object")
    if (typeof s.seed !== "number" || !Number.isSafeInteger(s.seed) || seen.has(s.seed))
      return bad(`seeds[${i}].seed`, "must be a distinct integer")
    seen.add(s.seed)
    if (typeof s.file !== "string" || !FILE_NAME.test(s.file)) return bad(`seeds[${i}].file`, "must be a plain file name")
    if (typeof j.checksums[s.file] !== "string") return bad(`checksums.${s.file}`, "missing")
    if (s.metrics !== undefined && !isObj(s.metrics)) return bad(`seeds[${i}].metrics`, "must be an object")
    if (s.provenance !== undefined && !isObj(s.provenance)) return bad(`seeds[${i}].provenance`, "must be an object")
  }
  return Result.succeed(j as unknown as EntryJson)
}

/** Parses `library.json`. */
export const parseLibraryJson = (text: string, library: string): Result.Result<void, LibraryError> => {
  let j: unknown
  try {
    j = JSON.parse(text)
  } catch {
    return Result.fail(new LibraryError({ library, entry: "(library)", message: "library.json is not valid JSON" }))
  }
  const fmt = isObj(j) ? j.format : undefined
  return fmt === FORMAT
    ? Result.void
    : Result.fail(
        new LibraryError({
          library,
          entry: "(library)",
          message: `library.json has format ${JSON.stringify(fmt)}, expected ${FORMAT}`,
        }),
      )
}
