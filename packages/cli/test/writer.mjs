// A library writer process for the concurrency tests: adds `count` entries named `${prefix}-${i}`.
// Usage: node writer.mjs <library> <prefix> <count> [size]
import { NodeServices } from "@effect/platform-node"
import { makeDirectoryLibrary } from "@spot/core"
import { Effect } from "effect"

const [root, prefix, count, size = "8"] = process.argv.slice(2)
const L = Number(size)
const d = 16
const program = Effect.gen(function* () {
  const lib = yield* makeDirectoryLibrary(root)
  for (let i = 0; i < Number(count); i++) {
    const source = { dtype: "f32", shape: [L, d], data: Float32Array.from({ length: L * d }, (_, j) => Math.sin(i * 31 + j)) }
    yield* lib.put({
      name: `${prefix}-${i}`,
      task: prefix,
      description: "",
      model: { fingerprint: "test", dModel: d },
      promptLength: L,
      created: new Date().toISOString(),
      seeds: [{ seed: 0, source, embedding: source, metrics: {}, provenance: {} }],
    })
    process.stdout.write(`${i}\n`)
  }
})
Effect.runPromise(program.pipe(Effect.provide(NodeServices.layer))).catch((e) => {
  console.error(e)
  process.exit(1)
})
