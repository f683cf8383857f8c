import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { makeDirectoryLibrary } from "@spot/core"
import { Effect } from "effect"
import { afterAll } from "vitest"
import { libraryLaws } from "./library-laws.ts"

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

libraryLaws("directory", () =>
  Effect.suspend(() => {
    const d = mkdtempSync(join(tmpdir(), "spot-laws-"))
    dirs.push(d)
    return makeDirectoryLibrary(d).pipe(Effect.provide(NodeServices.layer))
  }),
)
