import { spawn } from "node:child_process"
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { NodeServices } from "@effect/platform-node"
import { makeDirectoryLibrary, Safetensors } from "@spot/core"
import { Effect, Result } from "effect"
import { describe, expect, it } from "vitest"
import { ROOT, spot, tempDir } from "./helpers.ts"

const WRITER = fileURLToPath(new URL("./writer.mjs", import.meta.url))
const FIX = join(ROOT, "..", "shared", "fixtures", "hf-t5-parity")
const writer = (lib: string, prefix: string, n: number, size = 8) =>
  spawn("node", [WRITER, lib, prefix, String(n), String(size)], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
const listing = (lib: string) =>
  Effect.runPromise(Effect.flatMap(makeDirectoryLibrary(lib), (l) => l.list).pipe(Effect.provide(NodeServices.layer)))
const getAll = (lib: string, names: string[]) =>
  Effect.runPromise(
    Effect.flatMap(makeDirectoryLibrary(lib), (l) => Effect.forEach(names, (n) => Effect.result(l.get(n)))).pipe(
      Effect.provide(NodeServices.layer),
    ),
  )

describe("library under concurrent and crashing writers", () => {
  it("two writer processes adding 50 entries each leave 100 readable entries", async () => {
    const lib = join(tempDir(), "lib")
    const codes = await Promise.all(
      ["a", "b"].map(
        (p) =>
          new Promise<number>((resolve) => {
            const c = writer(lib, p, 50)
            c.stderr.on("data", (d) => process.stderr.write(d))
            c.on("exit", (code) => resolve(code ?? 1))
          }),
      ),
    )
    expect(codes).toEqual([0, 0])
    const l = await listing(lib)
    expect(l.entries).toHaveLength(100)
    expect(l.damaged).toEqual([])
    const got = await getAll(
      lib,
      l.entries.map((e) => e.name),
    )
    expect(got.every(Result.isSuccess)).toBe(true)
  })

  it("a writer killed mid-write leaves the library readable with no partial entry", async () => {
    const lib = join(tempDir(), "lib")
    // created first: a writer killed before it starts leaves no library, and readers never create one
    await Effect.runPromise(
      Effect.flatMap(makeDirectoryLibrary(lib, { create: true }), (l) => l.list).pipe(Effect.provide(NodeServices.layer)),
    )
    for (const delay of [150, 400, 700]) {
      await new Promise<void>((resolve) => {
        const c = writer(lib, `k${delay}`, 1000, 256)
        setTimeout(() => c.kill("SIGKILL"), delay)
        c.on("exit", () => resolve())
      })
      const l = await listing(lib)
      expect(l.damaged).toEqual([])
      const got = await getAll(
        lib,
        l.entries.map((e) => e.name),
      )
      expect(got.every(Result.isSuccess)).toBe(true)
      // every entry folder either has a complete entry.json or is ignored by the listing
      for (const name of readdirSync(join(lib, "entries"))) {
        if (existsSync(join(lib, "entries", name, "entry.json"))) expect(l.entries.some((e) => e.name === name)).toBe(true)
      }
    }
    // a stale lock from the killed writer does not block later writers forever
    const after = await new Promise<number>((resolve) => writer(lib, "after", 2).on("exit", (c) => resolve(c ?? 1)))
    expect(after).toBe(0)
  }, 180_000)
})

describe("spot library (CLI contract)", () => {
  it("imports PEFT adapters and .npy files and exports them back losslessly", async () => {
    const dir = tempDir()
    const lib = join(dir, "lib")
    for (const subs of [1, 2]) {
      const src = join(FIX, "t5-tiny", `peft-adapter-submodules-${subs}`)
      const name = `tiny-${subs}`
      const imp = await spot([
        "library",
        "import",
        src,
        "--library",
        lib,
        "--name",
        name,
        "--model",
        join(FIX, "t5-tiny", "model"),
      ])
      expect(imp.stderr).toBe("")
      expect(imp.code).toBe(0)
      const out = join(dir, `peft-${subs}`)
      const exp = await spot(["library", "export", name, "--library", lib, "--format", "peft", "--out", out])
      expect(exp.code).toBe(0)
      const a = Result.getOrThrow(
        Safetensors.decodeSafetensors(new Uint8Array(readFileSync(join(src, "adapter_model.safetensors")))),
      )
      const b = Result.getOrThrow(
        Safetensors.decodeSafetensors(new Uint8Array(readFileSync(join(out, "adapter_model.safetensors")))),
      )
      expect(b.tensors.get("prompt_embeddings")?.data).toEqual(a.tensors.get("prompt_embeddings")?.data)
      const npy = join(dir, `p${subs}.npy`)
      expect((await spot(["library", "export", name, "--library", lib, "--format", "npy", "--out", npy])).code).toBe(0)
      const back = await spot(["library", "import", npy, "--library", lib, "--name", `${name}-npy`])
      expect(back.code).toBe(0)
    }
    const list = await spot(["library", "list", "--library", lib, "--json"])
    const l = JSON.parse(list.stdout)
    expect(l.entries.map((e: { name: string }) => e.name).sort()).toEqual(["tiny-1", "tiny-1-npy", "tiny-2", "tiny-2-npy"])
    expect(l.entries.find((e: { name: string }) => e.name === "tiny-1").promptLength).toBe(5)
    const show = JSON.parse((await spot(["library", "show", "tiny-2", "--library", lib, "--json"])).stdout)
    expect(show.seeds[0].has_decoder_rows).toBe(true)
    expect((await spot(["library", "rm", "tiny-1-npy", "--library", lib])).code).toBe(0)
    expect(JSON.parse((await spot(["library", "list", "--library", lib, "--json"])).stdout).entries).toHaveLength(3)
  })

  it("hostile inputs give typed errors", async () => {
    const dir = tempDir()
    const lib = join(dir, "lib")
    const bad = join(dir, "bad.npy")
    writeFileSync(bad, "not numpy at all")
    const r1 = await spot(["library", "import", bad, "--library", lib, "--name", "x"])
    expect(r1.code).not.toBe(0)
    expect(r1.stderr).toContain("InputError")
    const r2 = await spot([
      "library",
      "import",
      join(FIX, "t5-tiny", "peft-adapter-submodules-1"),
      "--library",
      lib,
      "--name",
      "../../etc",
    ])
    expect(r2.stderr).toContain("LibraryError")
    const r3 = await spot([
      "library",
      "import",
      join(FIX, "t5-tiny", "peft-adapter-submodules-1"),
      "--library",
      lib,
      "--name",
      "w",
      "--model",
      "random:t5-small",
    ])
    expect(r3.stderr).toContain("width 32")
  }, 120_000)
})
