import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { type HostTensor, Interchange, ReferenceBackend, Safetensors, T5Checkpoint, T5Runner } from "@spot/core"
import { Effect, Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { FIXTURES, fixtureDir } from "./fixtures.ts"
import { runNode as run, runNodeResult as runR, tempDirs } from "./node-util.ts"
import { randomTensor } from "./util.ts"

const temp = tempDirs("spot-lib-")

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
            const r = yield* T5Runner.makeRunner(model)
            return (yield* r.run({ prompt: p.prompt, batch, outputs: ["loss"] })).loss?.data[0] as number
          }).pipe(Effect.scoped, Effect.provide(ReferenceBackend.layer)),
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
