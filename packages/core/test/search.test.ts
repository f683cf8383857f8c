import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { type HostTensor, makeDirectoryLibrary, ReferenceBackend, Search } from "@spot/core"
import { Effect, Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { randomEntry as entry, runNode as run, runNodeResult as runR, tempDirs } from "./node-util.ts"
import { randomTensor } from "./util.ts"

const temp = tempDirs("spot-lib-")

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
