/**
 * The CSV reader in a browser bundle: csv-parse's Node build needs Node's `Buffer`, so
 * `@spot/core`'s package.json maps `csv-parse/sync` to csv-parse's browser build for bundlers
 * (the `browser` field). A program that reads a CSV (BOM, quotes, CRLF, a newline inside quotes) is
 * bundled for the browser as the example page is, then run where `Buffer` does not exist.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"
import { afterAll, expect, it } from "vitest"
// @ts-expect-error: plain ESM helpers without type declarations
import { workspace } from "./build.mjs"

const dir = mkdtempSync(join(tmpdir(), "spot-csv-browser-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const program = `
import { DataReaders } from "@spot/core"
import { Effect, FileSystem, Result, Stream } from "effect"
const text = '\\ufeffinput,target\\r\\n"a, ""quoted""\\r\\nline",yes\\r\\nb,no\\r\\n'
const fs = FileSystem.layerNoop({ stream: () => Stream.make(new TextEncoder().encode(text)) })
const rows = []
globalThis.done = Effect.runPromise(
  DataReaders.readDelimited("mem.csv", ",", (line, rec) => {
    rows.push([line, rec])
    return Result.void
  }).pipe(Effect.provide(fs), Effect.map(() => rows)),
)
`

it("a browser bundle that reads a CSV runs without Node's Buffer", async () => {
  const out = join(dir, "csv.mjs")
  await build({
    stdin: { contents: program, resolveDir: fileURLToPath(new URL(".", import.meta.url)), loader: "ts" },
    outfile: out,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    plugins: [workspace],
    logLevel: "error",
  })
  expect(readFileSync(out, "utf8")).toContain("node_modules/csv-parse/dist/esm/sync.js")
  const script = `delete globalThis.Buffer; await import(${JSON.stringify(out)}); console.log(JSON.stringify([typeof Buffer, await globalThis.done]))`
  const [bufferType, rows] = JSON.parse(
    execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" }),
  )
  expect(bufferType).toBe("undefined")
  expect(rows).toEqual([
    [2, { input: 'a, "quoted"\nline', target: "yes" }],
    [4, { input: "b", target: "no" }],
  ])
})
