import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { Library, makeDirectoryLibrary, PromptLibrary } from "@spot/core"
import { Effect, Layer, Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { randomEntry as entry, runNode as run, runNodeResult as runR, tempDirs } from "./node-util.ts"
import { randomTensor } from "./util.ts"

const temp = tempDirs("spot-lib-")

describe("directory library", () => {
  it("round-trips entries losslessly and merges seeds", async () => {
    const root = temp()
    const lib = await run(makeDirectoryLibrary(root))
    const e = entry("rte", [0, 1])
    await run(lib.put(e))
    await run(lib.put(entry("rte", [2])))
    const back = await run(lib.get("rte"))
    expect(back.seeds.map((s) => s.seed)).toEqual([0, 1, 2])
    expect(back.seeds[0].source.data).toEqual(e.seeds[0].source.data)
    expect(back.seeds[1].embedding?.data).toEqual(e.seeds[1].embedding?.data)
    expect(back.seeds[1].metrics).toEqual({ accuracy: 0.51 })
    const l = await run(lib.list)
    expect(l.entries.map((x) => x.name)).toEqual(["rte"])
    expect(l.damaged).toEqual([])
    await run(lib.remove("rte"))
    expect((await run(lib.list)).entries).toEqual([])
  })

  it("rejects unsafe names (no path traversal)", async () => {
    const lib = await run(makeDirectoryLibrary(temp()))
    fc.assert(
      fc.property(fc.constantFrom("../x", "a/b", "..", ".hidden", "", "a\\b", "x".repeat(200), "a b"), (name) => {
        expect(Result.isFailure(PromptLibrary.validateName("lib", name))).toBe(true)
      }),
    )
    const r = await runR(lib.put(entry("../evil", [0])))
    expect(Result.isFailure(r) && r.failure._tag).toBe("LibraryError")
  })

  it("reports a damaged entry and keeps listing the rest", async () => {
    const root = temp()
    const lib = await run(makeDirectoryLibrary(root))
    await run(lib.put(entry("good", [0])))
    await run(lib.put(entry("bad", [0])))
    await run(lib.put(entry("flipped", [0])))
    writeFileSync(join(root, "entries/bad/entry.json"), "{ corrupt")
    const j = JSON.parse(readFileSync(join(root, "entries/flipped/entry.json"), "utf8"))
    const f = join(root, "entries/flipped", j.seeds[0].file)
    const bytes = readFileSync(f)
    bytes[bytes.length - 1] ^= 0xff
    writeFileSync(f, bytes)
    const l = await run(lib.list)
    // list verifies the seed files' checksums too (issue #15): a flipped byte is reported
    expect(l.entries.map((e) => e.name)).toEqual(["good"])
    expect(l.damaged.map((d) => d.name)).toEqual(["bad", "flipped"])
    expect(l.damaged[1].reason).toContain("checksum mismatch")
    const r = await runR(lib.get("flipped"))
    expect(Result.isFailure(r) && r.failure.message).toContain("checksum mismatch")
    expect(Result.isSuccess(await runR(lib.get("good")))).toBe(true)
  })

  it("refuses entries for another model, and mis-shaped or non-finite tensors", async () => {
    const lib = await run(makeDirectoryLibrary(temp()))
    await run(lib.put(entry("t", [0])))
    const other = await runR(lib.put(entry("t", [1], 3, 4, "fp2")))
    expect(Result.isFailure(other) && other.failure.message).toContain("another model")
    const e = entry("u", [0])
    const badShape = { ...e, seeds: [{ ...e.seeds[0], source: randomTensor([2, 4], 1) }] }
    expect(Result.isFailure(await runR(lib.put(badShape)))).toBe(true)
    const nan = {
      ...e,
      seeds: [{ ...e.seeds[0], source: { ...e.seeds[0].source, data: new Float32Array(12).fill(Number.NaN) } }],
    }
    expect(Result.isFailure(await runR(lib.put(nan)))).toBe(true)
    const compat = PromptLibrary.checkCompatible("lib", { ...e, seeds: [0] }, { fingerprint: "fp9", dModel: 4 })
    expect(Result.isFailure(compat) && compat.failure.message).toContain("made for model fp1")
  })

  it("rejects a library of another format", async () => {
    const root = temp()
    writeFileSync(join(root, "library.json"), '{"format":"other/9"}')
    const r = await runR(Effect.flatMap(makeDirectoryLibrary(root), (l) => l.list))
    expect(Result.isFailure(r) && r.failure.message).toContain("other/9")
  })
})

describe("Library service", () => {
  it("is provided by DirectoryLibrary.layer", async () => {
    const { DirectoryLibrary } = await import("@spot/core")
    const root = temp()
    const names = await Effect.runPromise(
      Effect.gen(function* () {
        const lib = yield* Library
        yield* lib.put(entry("x", [0]))
        return (yield* lib.list).entries.map((e) => e.name)
      }).pipe(Effect.provide(Layer.provide(DirectoryLibrary.layer(root), NodeServices.layer))),
    )
    expect(names).toEqual(["x"])
  })
})
