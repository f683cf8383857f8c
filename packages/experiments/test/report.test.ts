/**
 * `study.json` parsing and the HTML report under hostile input (issue #15): the parser returns a
 * value or a typed error for any JSON or mutated file, never throws; every value in the report is
 * escaped, so hostile names leave no markup and the report stays script-free.
 */

import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { htmlReport, parseStudyJson } from "../src/report.ts"

const study = (name: string) => ({
  sources: [name, "b"],
  targets: [name],
  seeds: [0],
  similarity_metric: name,
  rer: [[0.1, null]],
  similarity: [[0.2, 0.3]],
  correlation: [{ r: null, p: 0.5, n: 2 }],
  baseline: 0.5,
  oracle: 0.7,
  summary: [{ k: 1, score: 0.6, oracle_gain_kept: 0.5, search_space_skipped: 0.5 }],
  candidates: 2,
  cells: 3,
  seconds: 1,
})

describe("study.json", () => {
  it("parses a valid file (null read as NaN) and refuses broken ones with the field named", () => {
    expect(Result.isSuccess(parseStudyJson(JSON.stringify(study("a")), "s.json"))).toBe(true)
    for (const [text, field] of [
      ["{}", "sources"],
      ["null", "(file)"],
      ["NaN", "(file)"],
      [JSON.stringify({ ...study("a"), rer: [[1]] }), "rer"],
      [JSON.stringify({ ...study("a"), summary: [{ k: "1" }] }), "summary"],
    ] as const) {
      const r = parseStudyJson(text, "s.json")
      expect(Result.isFailure(r) && r.failure.field.endsWith(field), text).toBe(true)
    }
  })
  it("never throws on any JSON value or a mutated file", () => {
    const ok = JSON.stringify(study("a"))
    fc.assert(
      fc.property(fc.jsonValue(), (j) => Result.isResult(parseStudyJson(JSON.stringify(j), "s"))),
      { numRuns: 300 },
    )
    fc.assert(
      fc.property(fc.nat(ok.length), fc.string({ maxLength: 3 }), (at, ins) =>
        Result.isResult(parseStudyJson(ok.slice(0, at) + ins + ok.slice(at + 1), "s")),
      ),
      { numRuns: 300 },
    )
  })
})

describe("HTML report", () => {
  it("escapes every value: no hostile markup survives, no script", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const name = `<script>x</script><img src=x onerror=alert(1)>${s}`
        const r = Result.getOrThrow(parseStudyJson(JSON.stringify(study(name)), "s"))
        const html = htmlReport(r)
        return !/<script|<img|onerror=/i.test(html) && !html.includes(name)
      }),
      { numRuns: 200 },
    )
  })
})
