/** Rendering of results and typed errors, as JSON (`--json`) or as text for people. */
import { IoErrors } from "@spot/core"
import { Console, Effect } from "effect"

export const printJson = (value: unknown) => Console.log(JSON.stringify(value))

const fmt = (v: unknown): string =>
  typeof v === "number"
    ? Number.isInteger(v)
      ? String(v)
      : v.toExponential(3)
    : typeof v === "object" && v !== null
      ? JSON.stringify(v)
      : String(v)

/** A two-column table of a flat record. */
export const printRecord = (title: string, rec: Record<string, unknown>) =>
  Effect.gen(function* () {
    yield* Console.log(title)
    const w = Math.max(...Object.keys(rec).map((k) => k.length))
    for (const [k, v] of Object.entries(rec)) if (v !== undefined) yield* Console.log(`  ${k.padEnd(w)}  ${fmt(v)}`)
  })

/** One line describing a typed error: its tag and the file/field/library/entry fields it carries. */
export const describeError = (e: unknown): string => {
  if (typeof e === "object" && e !== null && "_tag" in e) {
    const r = e as Record<string, unknown>
    if (r._tag === "PlatformError") return `PlatformError: ${IoErrors.describeIo(e)}`
    const where = ["library", "entry", "file", "line", "field", "fixture", "backend", "provider", "op", "step"]
      .filter((k) => (typeof r[k] === "string" && r[k] !== "") || typeof r[k] === "number")
      .map((k) => `${k}=${r[k]}`)
      .join(" ")
    const message = typeof r.message === "string" && r.message !== "" ? r.message : String(r._tag)
    return `${String(r._tag)}${where ? ` (${where})` : ""}: ${message.replace(/\s*\n\s*/g, " ")}`
  }
  if (e instanceof Error) return `${e.name}: ${e.message}`
  return String(e)
}
