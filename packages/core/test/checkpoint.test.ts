import { copyFileSync, readFileSync, writeFileSync } from "node:fs"
import { NodeServices } from "@effect/platform-node"
import { type HostTensor, ReferenceBackend, Safetensors, T5Checkpoint, Tensor } from "@spot/core"
import { Effect, Layer, Result, Scope } from "effect"
import { describe, expect, it } from "vitest"
import { fixtureDir } from "./fixtures.ts"
import { tempDirs } from "./node-util.ts"
import { fileScope } from "./util.ts"

const layer = Layer.mergeAll(NodeServices.layer, ReferenceBackend.layer)
const scope = fileScope()
const runP = <A, E>(e: Effect.Effect<A, E, NodeServices.NodeServices | import("@spot/core").Backend | Scope.Scope>) =>
  Effect.runPromise(e.pipe(Scope.provide(scope), Effect.provide(layer)))

const tempDir = tempDirs("spot-t5-")

describe("checkpoint loading", () => {
  const src = fixtureDir("t5v1_1-untied-tiny")
  const load = (dir: string) => runP(T5Checkpoint.loadCheckpoint(dir).pipe(Effect.result))
  const fixtureTensors = () =>
    Result.getOrThrow(Safetensors.decodeSafetensors(new Uint8Array(readFileSync(`${src}/model/model.safetensors`)))).tensors

  it("reads a sharded checkpoint like the single file", async () => {
    const dir = tempDir()
    copyFileSync(`${src}/model/config.json`, `${dir}/config.json`)
    const all = fixtureTensors()
    const names = [...all.keys()]
    const half = Math.floor(names.length / 2)
    const shards = [names.slice(0, half), names.slice(half)]
    const weightMap: Record<string, string> = {}
    shards.forEach((part, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`
      writeFileSync(`${dir}/${file}`, Safetensors.encodeSafetensors(new Map(part.map((n) => [n, all.get(n) as HostTensor]))))
      for (const n of part) weightMap[n] = file
    })
    writeFileSync(`${dir}/model.safetensors.index.json`, JSON.stringify({ metadata: {}, weight_map: weightMap }))
    const sharded = Result.getOrThrow(await load(dir))
    const single = Result.getOrThrow(await load(`${src}/model`))
    expect([...sharded.weights.keys()].sort()).toEqual([...single.weights.keys()].sort())
    for (const [k, v] of single.weights) expect(sharded.weights.get(k)?.data).toEqual(v.data)
  })

  it("a model from bytes in memory equals the loaded folder; bad bytes name the source and field", async () => {
    const config = JSON.parse(readFileSync(`${src}/model/config.json`, "utf8"))
    const bytes = new Uint8Array(readFileSync(`${src}/model/model.safetensors`))
    const fromBytes = Result.getOrThrow(T5Checkpoint.modelFromBytes(config, bytes, "mem"))
    const loaded = Result.getOrThrow(await load(`${src}/model`))
    expect(fromBytes.config).toEqual(loaded.config)
    for (const [k, v] of loaded.weights) expect(fromBytes.weights.get(k)?.data).toEqual(v.data)
    const corrupt = T5Checkpoint.modelFromBytes(config, bytes.slice(0, 20), "mem")
    expect(Result.isFailure(corrupt) && corrupt.failure).toMatchObject({
      _tag: "SafetensorsError",
      file: "mem/model.safetensors",
    })
    const badConfig = T5Checkpoint.modelFromBytes({ ...config, d_model: "wide" }, bytes, "mem")
    expect(Result.isFailure(badConfig) && badConfig.failure).toMatchObject({ _tag: "ConfigError", file: "mem/config.json" })
  })

  it("names the file and tensor that is missing or mis-shaped", async () => {
    const all = fixtureTensors()
    const write = (mutate: (m: Map<string, HostTensor>) => void) => {
      const dir = tempDir()
      copyFileSync(`${src}/model/config.json`, `${dir}/config.json`)
      const m = new Map(all)
      mutate(m)
      writeFileSync(`${dir}/model.safetensors`, Safetensors.encodeSafetensors(m))
      return dir
    }
    const missing = await load(write((m) => m.delete("decoder.block.1.layer.1.EncDecAttention.k.weight")))
    expect(Result.isFailure(missing) && missing.failure).toMatchObject({
      _tag: "CheckpointError",
      field: "decoder.block.1.layer.1.EncDecAttention.k.weight",
    })
    const dir = write((m) => m.set("encoder.block.0.layer.1.DenseReluDense.wo.weight", Tensor.f32([32, 63])))
    const wrong = await load(dir)
    expect(Result.isFailure(wrong) && wrong.failure).toMatchObject({
      _tag: "CheckpointError",
      file: `${dir}/model.safetensors`,
      field: "encoder.block.0.layer.1.DenseReluDense.wo.weight",
    })
    const noHead = await load(write((m) => m.delete("lm_head.weight")))
    expect(Result.isFailure(noHead) && noHead.failure).toMatchObject({ _tag: "CheckpointError", field: "lm_head.weight" })
  })

  it("explains how to convert a pytorch_model.bin checkpoint", async () => {
    const dir = tempDir()
    copyFileSync(`${src}/model/config.json`, `${dir}/config.json`)
    writeFileSync(`${dir}/pytorch_model.bin`, "not read")
    const r = await load(dir)
    expect(Result.isFailure(r) && r.failure).toMatchObject({ _tag: "CheckpointError", field: "format" })
    expect(Result.isFailure(r) && r.failure.message).toContain("safe_serialization=True")
  })

  it("rejects an unsupported config value naming config.json and the field", async () => {
    const dir = tempDir()
    writeFileSync(
      `${dir}/config.json`,
      JSON.stringify({ ...JSON.parse(readFileSync(`${src}/model/config.json`, "utf8")), feed_forward_proj: "swiglu" }),
    )
    const r = await load(dir)
    expect(Result.isFailure(r) && r.failure).toMatchObject({
      _tag: "ConfigError",
      file: `${dir}/config.json`,
      field: "feed_forward_proj",
    })
    writeFileSync(`${dir}/config.json`, "{ not json")
    expect(Result.isFailure(await load(dir))).toBe(true)
  })
})
