/**
 * The example's bundled prompt library: a JSON file of library entries (tensors as base64 f32),
 * read with `fetch` in the page. It stands in for `DirectoryLibrary` where there is no file system.
 */
import type { HostTensor, LibraryEntry, T5Model } from "@spot/core"
import { Retrieval, Similarity, T5Checkpoint, Transfer } from "@spot/core"

export interface BundledTensor {
  readonly shape: readonly number[]
  readonly base64: string
}
export interface BundledLibrary {
  readonly format: "spot-bundled-library/1"
  readonly entries: ReadonlyArray<Omit<LibraryEntry, "seeds"> & { seeds: ReadonlyArray<BundledSeed> }>
}
interface BundledSeed {
  readonly seed: number
  readonly source: BundledTensor
  readonly embedding?: BundledTensor
  readonly metrics: Readonly<Record<string, number>>
  readonly provenance: Readonly<Record<string, string>>
}

const toBase64 = (bytes: Uint8Array) => {
  let s = ""
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(s)
}
const fromBase64 = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))

export const encodeTensor = (t: HostTensor<"f32">): BundledTensor => ({
  shape: t.shape,
  base64: toBase64(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)),
})
export const decodeTensor = (t: BundledTensor): HostTensor<"f32"> => ({
  dtype: "f32",
  shape: t.shape,
  data: new Float32Array(fromBase64(t.base64).buffer),
})

export const encodeLibrary = (entries: readonly LibraryEntry[]): BundledLibrary => ({
  format: "spot-bundled-library/1",
  entries: entries.map((e) => ({
    ...e,
    seeds: e.seeds.map((s) => ({
      seed: s.seed,
      source: encodeTensor(s.source),
      ...(s.embedding ? { embedding: encodeTensor(s.embedding) } : {}),
      metrics: s.metrics,
      provenance: s.provenance,
    })),
  })),
})

export const decodeLibrary = (json: BundledLibrary): LibraryEntry[] => {
  if (json.format !== "spot-bundled-library/1") throw new Error(`library.json: unknown format ${String(json.format)}`)
  return json.entries.map((e) => ({
    ...e,
    seeds: e.seeds.map((s) => ({
      seed: s.seed,
      metrics: s.metrics,
      provenance: s.provenance,
      source: decodeTensor(s.source),
      ...(s.embedding ? { embedding: decodeTensor(s.embedding) } : {}),
    })),
  }))
}

/** Best of top-1 over the library, ranked by per-token average cosine with the target's embedding. */
export const retrieve = (
  library: readonly LibraryEntry[],
  embedding: HostTensor<"f32">,
  model: T5Model,
  promptLength: number,
) => {
  const sim = Similarity.perTokenAverageCosine
  return Retrieval.bestOfTopK.plan(Transfer.candidatesOf(library, sim), {
    target: { summary: sim.summary(embedding), model: T5Checkpoint.modelKey(model), promptLength },
    similarity: sim,
    k: 1,
  })
}
