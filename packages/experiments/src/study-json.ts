/**
 * `study.json` read back for `spot report`: every field checked (strings, numbers — `null` is read as
 * NaN, which is how JSON writes it — and matrix shapes against the task lists), so that a damaged or
 * hostile file is a typed error naming the field, never a crash.
 */
import { InputError, type Study } from "@spot/core"
import { Result } from "effect"

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x)
const num = (x: unknown): number | undefined => (typeof x === "number" ? x : x === null ? Number.NaN : undefined)

export const parseStudyJson = (text: string, file: string): Result.Result<Study.StudyResult, InputError> => {
  const bad = (field: string, message: string) => Result.fail(new InputError({ field: `${file}: ${field}`, message }))
  let j: unknown
  try {
    j = JSON.parse(text)
  } catch {
    return bad("(file)", "not valid JSON")
  }
  if (!isObj(j)) return bad("(file)", "is not a JSON object")
  const strings = (k: string) =>
    Array.isArray(j[k]) && (j[k] as unknown[]).every((x) => typeof x === "string") ? (j[k] as string[]) : undefined
  const sources = strings("sources")
  const targets = strings("targets")
  if (!sources) return bad("sources", "must be a list of strings")
  if (!targets) return bad("targets", "must be a list of strings")
  if (!Array.isArray(j.seeds) || !j.seeds.every((s) => typeof s === "number")) return bad("seeds", "must be a list of numbers")
  if (typeof j.similarity_metric !== "string") return bad("similarity_metric", "must be a string")
  const matrix = (k: string): number[][] | undefined => {
    const m = j[k]
    if (!Array.isArray(m) || m.length !== targets.length) return undefined
    const out: number[][] = []
    for (const row of m) {
      if (!Array.isArray(row) || row.length !== sources.length) return undefined
      const r = row.map(num)
      if (r.some((x) => x === undefined)) return undefined
      out.push(r as number[])
    }
    return out
  }
  const rer = matrix("rer")
  const similarity = matrix("similarity")
  if (!rer) return bad("rer", `must be a ${targets.length} × ${sources.length} matrix of numbers`)
  if (!similarity) return bad("similarity", `must be a ${targets.length} × ${sources.length} matrix of numbers`)
  const rows = <K extends string>(k: string, keys: readonly K[], len?: number): Array<Record<K, number>> | undefined => {
    const a = j[k]
    if (!Array.isArray(a) || (len !== undefined && a.length !== len)) return undefined
    const out: Array<Record<K, number>> = []
    for (const x of a) {
      if (!isObj(x)) return undefined
      const rec = {} as Record<K, number>
      for (const key of keys) {
        const v = num(x[key])
        if (v === undefined) return undefined
        rec[key] = v
      }
      out.push(rec)
    }
    return out
  }
  const correlation = rows("correlation", ["r", "p", "n"] as const, targets.length)
  if (!correlation) return bad("correlation", `must be ${targets.length} objects {r, p, n} (numbers)`)
  const summary = rows("summary", ["k", "score", "oracle_gain_kept", "search_space_skipped"] as const)
  if (!summary) return bad("summary", "must be a list of {k, score, oracle_gain_kept, search_space_skipped} (numbers)")
  const scalars: Record<string, number> = {}
  for (const k of ["baseline", "oracle", "candidates", "cells", "seconds"]) {
    const v = num(j[k])
    if (v === undefined) return bad(k, "must be a number")
    scalars[k] = v
  }
  return Result.succeed({
    sources,
    targets,
    seeds: j.seeds as number[],
    similarity_metric: j.similarity_metric,
    // the embedding recipe (studies written before recipes existed have none)
    recipe: typeof j.recipe === "string" ? j.recipe : "",
    rer,
    similarity,
    correlation,
    summary,
    baseline: scalars.baseline,
    oracle: scalars.oracle,
    candidates: scalars.candidates,
    cells: scalars.cells,
    seconds: scalars.seconds,
  })
}
