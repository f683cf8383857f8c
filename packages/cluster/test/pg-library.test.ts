import { PgLibrary } from "@spot/cluster"
import { Effect, Result } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { lawEntry, libraryLaws } from "../../core/test/library-laws.ts"
import { type Postgres, startPostgres } from "./postgres.ts"

let pg: Postgres
beforeAll(async () => {
  pg = await startPostgres()
}, 120_000)
afterAll(() => pg?.stop())

let n = 0
libraryLaws("postgres", () =>
  Effect.suspend(() => PgLibrary.makePostgresLibrary(`${pg.url}?library=law-${n++}`, { create: true })),
)

describe("postgres library", () => {
  const scoped = <A, E>(e: Effect.Effect<A, E, import("effect").Scope.Scope>) =>
    Effect.runPromise(Effect.scoped(Effect.result(e)))

  it("a reader never creates: an unknown library is a typed error naming it", async () => {
    const r = await scoped(PgLibrary.makePostgresLibrary(`${pg.url}?library=nope`))
    expect(Result.isFailure(r) && r.failure.message).toMatch(/no such library/)
    expect(Result.isFailure(r) && r.failure.library).toContain("127.0.0.1")
  })

  it("a damaged prompt (checksum mismatch) is reported, not returned", async () => {
    const url = `${pg.url}?library=damage`
    const r = await scoped(
      Effect.gen(function* () {
        const s = yield* PgLibrary.makePostgresLibrary(url, { create: true })
        yield* s.put(lawEntry("hurt", [0]))
        return s
      }),
    )
    expect(Result.isSuccess(r)).toBe(true)
    const { execFileSync } = await import("node:child_process")
    execFileSync("psql", [pg.url, "-c", "UPDATE spot_seed SET tensors = set_byte(tensors, 200, 7) WHERE entry = 'hurt'"], {
      stdio: "pipe",
    })
    const got = await scoped(Effect.flatMap(PgLibrary.makePostgresLibrary(url), (s) => s.get("hurt")))
    expect(Result.isFailure(got) && got.failure.message).toMatch(/checksum mismatch/)
  })

  it("an unreachable server or a bad URL is a typed LibraryError", async () => {
    const bad = await scoped(PgLibrary.makePostgresLibrary("postgres://spot@127.0.0.1:1/none"))
    expect(Result.isFailure(bad) && bad.failure._tag).toBe("LibraryError")
    const notUrl = await scoped(PgLibrary.makePostgresLibrary("postgres://[bad"))
    expect(Result.isFailure(notUrl) && notUrl.failure.message).toMatch(/URL/)
  })
})
