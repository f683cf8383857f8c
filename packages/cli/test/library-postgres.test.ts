import { NodeServices } from "@effect/platform-node"
import { PgLibrary } from "@spot/cluster"
import { makeDirectoryLibrary } from "@spot/core"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Postgres, startPostgres } from "../../cluster/test/postgres.ts"
import { lawEntry } from "../../core/test/library-laws.ts"
import { spot, tempDir } from "./helpers.ts"

let pg: Postgres
beforeAll(async () => {
  pg = await startPostgres()
}, 120_000)
afterAll(() => pg?.stop())

const dirLib = (dir: string) => makeDirectoryLibrary(dir).pipe(Effect.provide(NodeServices.layer))

describe("spot library with --library postgres://", () => {
  it("copies a folder library into PostgreSQL and back, entry for entry, byte for byte", async () => {
    const src = tempDir()
    const entries = [lawEntry("rte", [0, 1], 4, 8), lawEntry("mnli", [0], 4, 8), lawEntry("boolq", [2], 4, 8)]
    await Effect.runPromise(Effect.flatMap(dirLib(src), (l) => Effect.forEach(entries, (e) => l.put(e))))
    const url = `${pg.url}?library=team`
    const up = await spot(["library", "copy", src, url, "--json"])
    expect(up.code, up.stderr).toBe(0)
    expect(JSON.parse(up.stdout.trim().split("\n").at(-1) as string).copied.sort()).toEqual(["boolq", "mnli", "rte"])
    const listed = await spot(["library", "list", "--library", url, "--json"])
    expect(listed.code, listed.stderr).toBe(0)
    expect(listed.stdout).toContain("mnli")
    const back = tempDir()
    const down = await spot(["library", "copy", url, back])
    expect(down.code, down.stderr).toBe(0)
    const got = await Effect.runPromise(
      Effect.flatMap(dirLib(back), (l) => Effect.forEach(["rte", "mnli", "boolq"], (n) => l.get(n))),
    )
    for (const [i, e] of entries.entries()) {
      expect(got[i].seeds.map((s) => s.seed)).toEqual(e.seeds.map((s) => s.seed))
      expect([...got[i].seeds[0].source.data]).toEqual([...e.seeds[0].source.data])
      expect([...(got[i].seeds[0].embedding?.data ?? [])]).toEqual([...(e.seeds[0].embedding?.data ?? [])])
    }
    const ix = await Effect.runPromise(Effect.scoped(Effect.flatMap(PgLibrary.makePostgresLibrary(url), (l) => l.index)))
    expect(ix.rows).toHaveLength(4)
  })

  it("a library that does not exist is one clear line, and nothing is created", async () => {
    const r = await spot(["library", "list", "--library", `${pg.url}?library=typo`])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/no such library/)
    const after = await spot(["library", "list", "--library", `${pg.url}?library=typo`])
    expect(after.stderr).toMatch(/no such library/)
  })
})
