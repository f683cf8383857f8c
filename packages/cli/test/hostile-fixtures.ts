/** Files for the hostile-input tables: a tiny model and its broken variants, prompts, data, libraries. */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { type HostTensor, makeDirectoryLibrary, Safetensors } from "@spot/core"
import { Effect } from "effect"
import { tinyCheckpoint, writeTask } from "./helpers.ts"

export const D = 16

export const tensor = (rows: number, cols: number, fill: (i: number) => number = (i) => Math.sin(i) / 4): HostTensor<"f32"> => ({
  dtype: "f32",
  shape: [rows, cols],
  data: Float32Array.from({ length: rows * cols }, (_, i) => fill(i)),
})

export const writePrompt = (file: string, t: HostTensor<"f32">, meta: Record<string, string> = {}) => {
  writeFileSync(file, Safetensors.encodeSafetensors({ prompt: t }, meta))
  return file
}

/** A model folder whose config.json is patched. */
const patchedModel = (src: string, dst: string, patch: Record<string, unknown>) => {
  cpSync(src, dst, { recursive: true })
  const cfg = JSON.parse(readFileSync(join(src, "config.json"), "utf8"))
  writeFileSync(join(dst, "config.json"), JSON.stringify({ ...cfg, ...patch }))
  return dst
}

/** A model folder with a NaN in its token embeddings. */
const nanModel = (src: string, dst: string) => {
  cpSync(src, dst, { recursive: true })
  const file = join(dst, "model.safetensors")
  const st = Safetensors.decodeSafetensors(new Uint8Array(readFileSync(file)), file)
  if (st._tag !== "Success") throw new Error("fixture")
  const w = st.success.tensors.get("shared.weight") as HostTensor<"f32">
  w.data[5] = Number.NaN
  writeFileSync(file, Safetensors.encodeSafetensors(st.success.tensors, st.success.metadata))
  return dst
}

export const npy = (header: string, floats: number) => {
  const h = Buffer.from(`${header}\n`, "latin1")
  const out = Buffer.alloc(10 + h.length + 4 * floats)
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0])
  out.writeUInt16LE(h.length, 8)
  h.copy(out, 10)
  return out
}

export const makeLibrary = (dir: string, entries: Array<{ name: string; L: number; d?: number; seeds?: number[] }>) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const lib = yield* makeDirectoryLibrary(dir, { create: true })
      for (const e of entries) {
        const d = e.d ?? D
        yield* lib.put({
          name: e.name,
          task: e.name,
          description: "",
          model: { fingerprint: "any", dModel: d },
          promptLength: e.L,
          created: "2026-01-01T00:00:00.000Z",
          seeds: (e.seeds ?? [0]).map((seed) => ({
            seed,
            source: tensor(e.L, d, (i) => Math.cos(i + seed) / 5),
            embedding: tensor(e.L, d, (i) => Math.sin(i * 3 + seed) / 5),
            metrics: {},
            provenance: {},
          })),
        })
      }
      return dir
    }).pipe(Effect.provide(NodeServices.layer)),
  )

export const buildFixtures = async (dir: string) => {
  const model = await tinyCheckpoint(join(dir, "model"))
  const data = writeTask(dir, "movie-sentiment", 24, 8)
  const prompt = writePrompt(join(dir, "prompt.safetensors"), tensor(4, D))
  const nanPrompt = writePrompt(
    join(dir, "nan-prompt.safetensors"),
    tensor(4, D, (i) => (i === 37 ? Number.NaN : 0.1)),
  )
  const emptyPrompt = writePrompt(join(dir, "empty-prompt.safetensors"), tensor(0, D))
  const tok = join(dir, "bad-tokenizer.json")
  writeFileSync(tok, JSON.stringify({ model: { type: "Unigram", vocab: 5 }, added_tokens: [] }))
  mkdirSync(join(dir, "out"), { recursive: true })
  return {
    dir,
    model,
    data,
    prompt,
    nanPrompt,
    emptyPrompt,
    tok,
    hugeModel: patchedModel(model, join(dir, "huge-model"), { num_layers: 1e9 }),
    badStartModel: patchedModel(model, join(dir, "badstart-model"), { decoder_start_token_id: 99_999 }),
    nanModel: nanModel(model, join(dir, "nan-model")),
  }
}
export type Fixtures = Awaited<ReturnType<typeof buildFixtures>>
