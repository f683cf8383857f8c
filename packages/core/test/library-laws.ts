/**
 * The laws every `LibraryStore` obeys (directory, PostgreSQL, a third party's): run them with
 * `libraryLaws(name, open)` where `open()` gives a fresh, empty store (in an Effect that may need a Scope).
 */
import { type HostTensor, type PromptLibrary, Search } from "@spot/core"
import { Effect, Result, type Scope } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"

export type OpenStore = () => Effect.Effect<PromptLibrary.LibraryStore, unknown, Scope.Scope>

const tensor = (shape: [number, number], seed: number): HostTensor<"f32"> => {
  const data = new Float32Array(shape[0] * shape[1])
  let x = (seed * 2654435761) >>> 0 || 1
  for (let i = 0; i < data.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    data[i] = ((x >>> 0) / 4294967296 - 0.5) * 4
  }
  return { dtype: "f32", shape, data }
}

export const lawEntry = (name: string, seeds: readonly number[], L = 3, d = 4, fp = "fp1"): PromptLibrary.LibraryEntry => ({
  name,
  task: `${name}-task`,
  description: `entry ${name}`,
  model: { fingerprint: fp, dModel: d },
  promptLength: L,
  created: "2026-01-01T00:00:00.000Z",
  seeds: seeds.map((s) => ({
    seed: s,
    source: tensor([L, d], s + 10 + name.length * 7),
    embedding: tensor([L, d], s + 20 + name.charCodeAt(0) * 101),
    metrics: { accuracy: 0.5 + s / 100 },
    provenance: { step: String(s), recipe: "law" },
  })),
})

const sameTensor = (a: HostTensor | undefined, b: HostTensor | undefined) => {
  expect(a?.shape).toEqual(b?.shape)
  expect(a ? [...a.data] : undefined).toEqual(b ? [...b.data] : undefined)
}

export const libraryLaws = (name: string, open: OpenStore, runs = 8) => {
  const run = <A, E>(f: (s: PromptLibrary.LibraryStore) => Effect.Effect<A, E>) =>
    Effect.runPromise(Effect.scoped(Effect.flatMap(open(), f)) as Effect.Effect<A, never>)

  describe(`LibraryStore laws: ${name}`, () => {
    it("get(put(e)) is e, losslessly, and list shows it", () =>
      fc.assert(
        fc.asyncProperty(
          fc.uniqueArray(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 3 }),
          fc.integer({ min: 1, max: 5 }),
          fc.integer({ min: 1, max: 6 }),
          async (seeds, L, d) => {
            const e = lawEntry("rt", seeds, L, d)
            await run((s) =>
              Effect.gen(function* () {
                yield* s.put(e)
                const back = yield* s.get("rt")
                expect(back.seeds.map((x) => x.seed)).toEqual([...seeds].sort((a, b) => a - b))
                for (const want of e.seeds) {
                  const got = back.seeds.find((x) => x.seed === want.seed)
                  sameTensor(got?.source, want.source)
                  sameTensor(got?.embedding, want.embedding)
                  expect(got?.metrics).toEqual(want.metrics)
                  expect(got?.provenance).toEqual(want.provenance)
                }
                expect(back.task).toBe(e.task)
                expect(back.model).toEqual(e.model)
                const l = yield* s.list
                expect(l.entries.map((x) => x.name)).toEqual(["rt"])
                expect(l.damaged).toEqual([])
              }),
            )
          },
        ),
        { numRuns: runs },
      ))

    it("put merges seeds: a later seed of the same number replaces the earlier one", () =>
      run((s) =>
        Effect.gen(function* () {
          yield* s.put(lawEntry("m", [0, 1]))
          const again = lawEntry("m", [1, 2])
          const replaced = { ...again, seeds: again.seeds.map((x) => ({ ...x, metrics: { accuracy: 0.9 } })) }
          yield* s.put(replaced)
          const back = yield* s.get("m")
          expect(back.seeds.map((x) => x.seed)).toEqual([0, 1, 2])
          expect(back.seeds[1].metrics).toEqual({ accuracy: 0.9 })
          expect(back.seeds[0].metrics).toEqual({ accuracy: 0.5 })
        }),
      ))

    it("remove deletes the entry and its index rows; removing twice fails", () =>
      run((s) =>
        Effect.gen(function* () {
          yield* s.put(lawEntry("a", [0]))
          yield* s.put(lawEntry("b", [0, 1]))
          yield* s.remove("a")
          expect((yield* s.list).entries.map((x) => x.name)).toEqual(["b"])
          expect((yield* s.index).rows.map((r) => `${r.entry}/${r.seed}`)).toEqual(["b/0", "b/1"])
          const again = yield* Effect.result(s.remove("a"))
          expect(Result.isFailure(again) && again.failure._tag).toBe("LibraryError")
          const gone = yield* Effect.result(s.get("a"))
          expect(Result.isFailure(gone) && gone.failure._tag).toBe("LibraryError")
        }),
      ))

    it("the index holds exactly the candidates with embeddings, and equals buildIndex of them", () =>
      run((s) =>
        Effect.gen(function* () {
          const es = [lawEntry("x", [0, 2]), lawEntry("y", [1]), lawEntry("z", [0, 1, 3])]
          for (const e of es) yield* s.put(e)
          const noEmb = lawEntry("w", [5])
          yield* s.put({ ...noEmb, seeds: noEmb.seeds.map(({ embedding: _, ...rest }) => rest) })
          const ix = yield* s.index
          const want = Search.buildIndex(
            4,
            es.flatMap((e) =>
              e.seeds.map((sd) => ({
                row: { entry: e.name, task: e.task, seed: sd.seed, fingerprint: "fp1", promptLength: 3 },
                embedding: sd.embedding as HostTensor<"f32">,
              })),
            ),
          )
          const key = (r: Search.IndexRow) => `${r.entry}/${r.seed}`
          const order = (rows: readonly Search.IndexRow[]) => rows.map(key)
          expect([...order(ix.rows)].sort()).toEqual([...order(want.rows)].sort())
          for (const [metric, t] of want.vectors) {
            const got = ix.vectors.get(metric) as HostTensor<"f32">
            want.rows.forEach((r, i) => {
              const j = ix.rows.findIndex((x) => key(x) === key(r))
              expect([...got.data.subarray(j * 4, (j + 1) * 4)]).toEqual([...t.data.subarray(i * 4, (i + 1) * 4)])
            })
          }
          expect(ix.rows.find((r) => r.entry === "x")).toMatchObject({ task: "x-task", fingerprint: "fp1", promptLength: 3 })
        }),
      ))

    it("refuses bad names, another model or shape under an existing name, and non-finite tensors — leaving the store as it was", () =>
      run((s) =>
        Effect.gen(function* () {
          yield* s.put(lawEntry("keep", [0]))
          const before = yield* s.get("keep")
          const attempts = [
            lawEntry("../evil", [0]),
            lawEntry("keep", [1], 3, 4, "other-model"),
            lawEntry("keep", [1], 5, 4),
            (() => {
              const e = lawEntry("nan", [0])
              e.seeds[0].source.data[0] = Number.NaN
              return e
            })(),
          ]
          for (const e of attempts) {
            const r = yield* Effect.result(s.put(e))
            expect(Result.isFailure(r) && r.failure._tag).toBe("LibraryError")
          }
          expect((yield* s.list).entries.map((x) => x.name)).toEqual(["keep"])
          const after = yield* s.get("keep")
          expect(after.seeds.map((x) => x.seed)).toEqual(before.seeds.map((x) => x.seed))
          sameTensor(after.seeds[0].source, before.seeds[0].source)
        }),
      ))

    it("concurrent writers of different entries all land, and of one entry merge their seeds", () =>
      run((s) =>
        Effect.gen(function* () {
          const names = Array.from({ length: 8 }, (_, i) => `c${i}`)
          yield* Effect.all(
            names.map((n) => s.put(lawEntry(n, [0]))),
            { concurrency: "unbounded" },
          )
          yield* Effect.all(
            [0, 1, 2, 3].map((seed) => s.put(lawEntry("shared", [seed]))),
            { concurrency: "unbounded" },
          )
          expect((yield* s.list).entries.map((x) => x.name).sort()).toEqual([...names, "shared"].sort())
          expect((yield* s.get("shared")).seeds.map((x) => x.seed)).toEqual([0, 1, 2, 3])
          expect((yield* s.index).rows.length).toBe(names.length + 4)
        }),
      ))
  })
}
