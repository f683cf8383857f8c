// In-process A/B of ONNX Runtime options on one prompt-tuning step (T5 v1.1 small shape by default):
// every variant is compiled once, then the variants run in turn, round after round, so that a noisy,
// shared machine slows them alike. Prints each variant's median and its ratio to the first variant.
// Usage (after `npm run build`):
//   node bench/onnx-ab.mjs '{"inputs":{"weights":"inputs"},"external":{}}' [rounds=5] [batch=8] [src=128] [prompt=100] [tgt=4]
import { makeOnnxBackend } from "@spot/backend-cuda"
import { Backend, T5Presets, T5Runner } from "@spot/core"
import { Effect } from "effect"

const variants = JSON.parse(process.argv[2] ?? '{"inputs":{"weights":"inputs"},"external":{}}')
const [rounds, batch, src, promptLen, tgt] = [3, 4, 5, 6, 7].map((i, k) => Number(process.argv[i] ?? [5, 8, 128, 100, 4][k]))
const model = T5Presets.randomT5(T5Presets.PRESETS["t5-v1_1-small"], 0, "random:t5-v1_1-small")
const c = model.config
const rnd = (n, seed) => {
  const a = new Float32Array(n)
  let s = seed
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    a[i] = s / 4294967296 - 0.5
  }
  return a
}
const ids = Int32Array.from({ length: batch * src }, (_, i) => 3 + ((i * 7919) % (c.vocabSize - 3)))
const labels = Int32Array.from({ length: batch * tgt }, (_, i) => 3 + ((i * 104729) % (c.vocabSize - 3)))
const prompt = { dtype: "f32", shape: [promptLen, c.dModel], data: rnd(promptLen * c.dModel, 3) }
const b = {
  inputIds: { dtype: "i32", shape: [batch, src], data: ids },
  attentionMask: { dtype: "f32", shape: [batch, src], data: new Float32Array(batch * src).fill(1) },
  labels: { dtype: "i32", shape: [batch, tgt], data: labels },
}
const threads = Number(process.env.THREADS ?? 2)
await Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      const runners = []
      for (const [name, opts] of Object.entries(variants)) {
        const backend = yield* makeOnnxBackend({ provider: "cpu", threads, ...opts })
        const runner = yield* T5Runner.makeRunner(model).pipe(Effect.provideService(Backend, backend))
        const t0 = performance.now()
        yield* runner.run({ prompt, batch: b, outputs: ["loss", "promptGrad"] })
        console.log(
          `${name}: compile + first step ${(performance.now() - t0).toFixed(0)} ms, rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB`,
        )
        runners.push({ name, runner, ms: [] })
      }
      for (let r = 0; r < rounds; r++) {
        for (const v of runners) {
          const t0 = performance.now()
          yield* v.runner.run({ prompt, batch: b, outputs: ["loss", "promptGrad"] })
          v.ms.push(performance.now() - t0)
        }
      }
      const med = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]
      const base = med(runners[0].ms)
      for (const v of runners) {
        console.log(
          `${v.name.padEnd(14)} median ${med(v.ms).toFixed(0)} ms  (${(base / med(v.ms)).toFixed(2)}× ${runners[0].name})  runs ${v.ms.map((x) => x.toFixed(0)).join(",")}`,
        )
      }
      console.log(`peak rss ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`)
    }),
  ),
)
