import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import {
  type HostTensor,
  Interchange,
  Library,
  makeDirectoryLibrary,
  PromptLibrary,
  ReferenceBackend,
  Safetensors,
  Search,
  T5,
  T5Checkpoint,
} from "@spot/core"
import { Effect, Layer, Result } from "effect"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { FIXTURES, fixtureDir } from "./fixtures.ts"
import { randomTensor } from "./util.ts"

const dirs: string[] = []
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), "spot-lib-"))
  dirs.push(d)
  return d
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})
const run = <A, E>(e: Effect.Effect<A, E, NodeServices.NodeServices>) =>
  Effect.runPromise(e.pipe(Effect.provide(NodeServices.layer)))
const runR = <A, E>(e: Effect.Effect<A, E, NodeServices.NodeServices>) => run(Effect.result(e))

const entry = (name: string, seeds: number[], L = 3, d = 4, fp = "fp1"): PromptLibrary.LibraryEntry => ({
  name,
  task: `${name}-task`,
  description: "d",
  model: { fingerprint: fp, dModel: d },
  promptLength: L,
  created: "2026-01-01T00:00:00.000Z",
  seeds: seeds.map((s) => ({
    seed: s,
    source: randomTensor([L, d], s + 10),
    embedding: randomTensor([L, d], s + 20 + name.charCodeAt(0) * 101),
    metrics: { accuracy: 0.5 + s / 100 },
    provenance: { step: String(s) },
  })),
})

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

describe("interchange", () => {
  it(".npy round trip and hostile headers", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 7 }), fc.nat(), (L, d, s) => {
        const t = randomTensor([L, d], s)
        const back = Result.getOrThrow(Interchange.decodeNpy(Interchange.encodeNpy(t)))
        expect(back.shape).toEqual([L, d])
        expect(back.data).toEqual(t.data)
      }),
    )
    const good = Interchange.encodeNpy(randomTensor([2, 3], 1))
    const text = new TextDecoder().decode(good.subarray(10, 74))
    const mutate = (from: string, to: string) => {
      const b = Uint8Array.from(good)
      b.set(new TextEncoder().encode(text.replace(from, to)), 10)
      return Interchange.decodeNpy(b, "p.npy")
    }
    for (const [from, to, field] of [
      ["<f4", "<i4", "descr"],
      ["False", "True ", "fortran_order"],
      ["(2, 3)", "(6,)  ", "shape"],
      ["(2, 3)", "(3, 3)", "data"],
    ] as const) {
      const r = mutate(from, to)
      expect(Result.isFailure(r) && r.failure.field).toBe(`p.npy: ${field}`)
    }
    expect(Result.isFailure(Interchange.decodeNpy(new Uint8Array([1, 2, 3]), "x.npy"))).toBe(true)
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => void Interchange.decodeNpy(b)))
  })

  it("PEFT adapters: the fixtures import and, as prompts, reproduce the fixture loss", async () => {
    for (const name of FIXTURES) {
      const dir = fixtureDir(name)
      const model = await run(T5Checkpoint.loadCheckpoint(join(dir, "model")))
      const ref = Result.getOrThrow(
        Safetensors.decodeSafetensors(new Uint8Array(readFileSync(join(dir, "reference.safetensors")))),
      )
      const batch = {
        inputIds: ref.tensors.get("input_ids") as HostTensor,
        attentionMask: ref.tensors.get("attention_mask") as HostTensor,
        labels: ref.tensors.get("labels") as HostTensor,
      }
      const want = (ref.tensors.get("loss") as HostTensor<"f32">).data[0]
      for (const subs of [1, 2]) {
        const p = await run(Interchange.readPeftAdapter(join(dir, `peft-adapter-submodules-${subs}`)))
        expect(p.decoderRows !== undefined).toBe(subs === 2)
        expect(p.prompt.data).toEqual((ref.tensors.get("prompt") as HostTensor<"f32">).data)
        const loss = await Effect.runPromise(
          Effect.gen(function* () {
            const r = yield* T5.makeRunner(model)
            return (yield* r.run(p.prompt, batch, ["loss"])).loss?.data[0] as number
          }).pipe(Effect.provide(ReferenceBackend.layer)),
        )
        expect(Math.abs(loss - want) / want).toBeLessThan(1e-4)
      }
    }
  })

  it("PEFT round trip: ours → adapter → ours, with one and two submodules, byte-identical tensors", async () => {
    const root = temp()
    for (const name of FIXTURES) {
      for (const subs of [1, 2]) {
        const src = join(fixtureDir(name), `peft-adapter-submodules-${subs}`)
        const a = await run(Interchange.readPeftAdapter(src))
        const out = join(root, `${name}-${subs}`)
        await run(Interchange.writePeftAdapter(out, a, { numLayers: 2, numHeads: 4 }))
        const b = await run(Interchange.readPeftAdapter(out))
        expect(b.prompt.data).toEqual(a.prompt.data)
        expect(b.decoderRows?.data).toEqual(a.decoderRows?.data)
        const want = JSON.parse(readFileSync(join(src, "adapter_config.json"), "utf8"))
        const got = JSON.parse(readFileSync(join(out, "adapter_config.json"), "utf8"))
        expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort())
        for (const k of [
          "peft_type",
          "task_type",
          "num_virtual_tokens",
          "token_dim",
          "num_transformer_submodules",
          "num_layers",
          "num_attention_heads",
        ]) {
          expect(got[k]).toEqual(want[k])
        }
        const st = Result.getOrThrow(
          Safetensors.decodeSafetensors(new Uint8Array(readFileSync(join(out, "adapter_model.safetensors")))),
        )
        const ws = Result.getOrThrow(
          Safetensors.decodeSafetensors(new Uint8Array(readFileSync(join(src, "adapter_model.safetensors")))),
        )
        expect([...st.tensors.keys()]).toEqual([...ws.tensors.keys()])
        expect(st.tensors.get("prompt_embeddings")?.data).toEqual(ws.tensors.get("prompt_embeddings")?.data)
      }
    }
  })

  it("PEFT adapters of another width or a wrong config give typed errors", async () => {
    const root = temp()
    const good = join(fixtureDir("t5-tiny"), "peft-adapter-submodules-1")
    const cfg = JSON.parse(readFileSync(join(good, "adapter_config.json"), "utf8"))
    const mk = (patch: Record<string, unknown>) => {
      const d = mkdtempSync(join(root, "a"))
      writeFileSync(join(d, "adapter_config.json"), JSON.stringify({ ...cfg, ...patch }))
      writeFileSync(join(d, "adapter_model.safetensors"), readFileSync(join(good, "adapter_model.safetensors")))
      return d
    }
    for (const [patch, field] of [
      [{ token_dim: 64 }, "prompt_embeddings"],
      [{ peft_type: "LORA" }, "peft_type"],
      [{ num_transformer_submodules: 3 }, "num_transformer_submodules"],
    ] as const) {
      const r = await runR(Interchange.readPeftAdapter(mk(patch)))
      expect(Result.isFailure(r) && r.failure).toMatchObject({ _tag: "InputError" })
      expect(Result.isFailure(r) && r.failure.field).toContain(field)
    }
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

describe("retrieval index", () => {
  it("is kept in step with the library and a query equals the naive ranking", async () => {
    const { Retrieval, Similarity } = await import("@spot/core")
    const root = temp()
    const lib = await run(makeDirectoryLibrary(root))
    for (const n of ["a", "b", "c", "d"]) await run(lib.put(entry(n, [0, 1], 5, 6)))
    await run(lib.put(entry("b", [2], 5, 6)))
    await run(lib.remove("c"))
    const ix = await run(lib.index)
    expect(ix.rows.map((r) => `${r.entry}#${r.seed}`).sort()).toEqual(["a#0", "a#1", "b#0", "b#1", "b#2", "d#0", "d#1"])
    const all = await Promise.all(["a", "b", "d"].map((n) => run(lib.get(n))))
    for (const sim of Similarity.SIMILARITIES) {
      const target = randomTensor([5, 6], 999)
      const summary = sim.summary(target)
      const got = await Effect.runPromise(
        Effect.flatMap(Search.makeSearcher(Search.inMemory(ix)), (s) => s.query(sim.name as Search.IndexMetric, summary, 4)).pipe(
          Effect.provide(ReferenceBackend.layer),
        ),
      )
      const want = Retrieval.rank(
        all.flatMap((e) =>
          e.seeds.map((s) => ({
            entry: e.name,
            task: e.task,
            seed: s.seed,
            model: e.model,
            promptLength: 5,
            summary: sim.summary(s.embedding as HostTensor<"f32">),
          })),
        ),
        { target: { summary, model: { fingerprint: "fp1", dModel: 6 }, promptLength: 5 }, k: 4, similarity: sim },
      )
      expect(got.map((g) => `${g.row.task}#${g.row.seed}`)).toEqual(
        want.slice(0, 4).map((w) => `${w.candidate.task}#${w.candidate.seed}`),
      )
      got.forEach((g, i) => {
        expect(g.similarity).toBeCloseTo(want[i].similarity, 5)
      })
    }
  })
  it("an index file opened lazily answers like the index in memory", async () => {
    const root = temp()
    const lib = await run(makeDirectoryLibrary(root))
    for (const n of ["p", "q", "r"]) await run(lib.put(entry(n, [0, 1], 4, 5)))
    const ix = await run(lib.index)
    const lazy = await run(Search.openIndexFile(join(root, "index.safetensors")))
    expect(lazy.rows).toEqual(ix.rows)
    for (const metric of ["per-token-average-cosine", "cosine-of-average"] as const) {
      const q = (src: Search.IndexSource) =>
        Effect.runPromise(
          Effect.flatMap(Search.makeSearcher(src), (s) => s.query(metric, randomTensor([5], 3).data, 6)).pipe(
            Effect.provide(ReferenceBackend.layer),
          ),
        )
      expect(await q(lazy)).toEqual(await q(Search.inMemory(ix)))
      expect((await run(lazy.load(metric))).data).toEqual(ix.vectors.get(metric)?.data)
    }
    writeFileSync(join(root, "broken.safetensors"), "nope")
    const broken = await runR(Search.openIndexFile(join(root, "broken.safetensors")))
    expect(Result.isFailure(broken) && broken.failure._tag).toBe("LibraryError")
  })
  it("top-k selection equals sorting", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 70 }),
        (xs, k) => {
          const scores = Float32Array.from(xs)
          const want = xs
            .map((v, i) => [v, i] as const)
            .sort((a, b) => b[0] - a[0] || a[1] - b[1])
            .slice(0, k)
            .map(([, i]) => i)
          expect(Search.topKIndices(scores, k)).toEqual(want)
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe("directory store: no file created by readers, lock failures named (issue #15)", () => {
  it("list/get/index of a missing library fail and create nothing; init (create) makes it", async () => {
    const root = join(temp(), "typo", "lib")
    const lib = await run(makeDirectoryLibrary(root))
    for (const op of [lib.list, lib.get("x"), lib.index, lib.remove("x")] as Effect.Effect<unknown, { library: string }>[]) {
      const r = await runR(op)
      expect(Result.isFailure(r) && r.failure.library === root).toBe(true)
    }
    expect(existsSync(join(root, ".."))).toBe(false)
    const created = await run(makeDirectoryLibrary(root, { create: true }))
    expect((await run(created.list)).entries).toEqual([])
    expect(existsSync(join(root, "library.json"))).toBe(true)
  })
  it("a put that fails validation creates nothing", async () => {
    const root = join(temp(), "lib")
    const lib = await run(makeDirectoryLibrary(root))
    const e = entry("u", [0])
    expect(Result.isFailure(await runR(lib.put({ ...e, promptLength: 2.5 })))).toBe(true)
    expect(existsSync(root)).toBe(false)
  })
  it("a .lock that is a directory is reported at once, naming the path; a dead writer's lock is broken", async () => {
    const root = temp()
    const lib = await run(makeDirectoryLibrary(root, { lockTimeoutMs: 60_000 }))
    await run(lib.put(entry("a", [0])))
    mkdirSync(join(root, ".lock"))
    const r = await runR(lib.put(entry("b", [0])))
    expect(Result.isFailure(r) && r.failure.entry === "(lock)" && r.failure.message).toContain("is a directory")
    rmSync(join(root, ".lock"), { recursive: true })
    writeFileSync(join(root, ".lock"), JSON.stringify({ pid: 12345, host: "h" }))
    const dead = await run(
      makeDirectoryLibrary(root, { lockTimeoutMs: 2_000, staleMs: 600_000, owner: { pid: 1, host: "h", alive: () => false } }),
    )
    await run(dead.put(entry("c", [0])))
    expect((await run(dead.list)).entries.map((x) => x.name)).toEqual(["a", "c"])
  })
})
