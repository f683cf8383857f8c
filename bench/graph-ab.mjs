// In-process A/B of two builds of @spot/core's T5 graph on one ONNX Runtime backend: a prompt-tuning step
// (loss + prompt gradient, T5 v1.1 small shape by default) built by a baseline core (a copy of an older
// packages/core/dist) and by this checkout's, compiled on the same backend and run in turn, round after
// round, so that a shared machine's load falls on both alike. Prints each one's median and the ratio.
// Usage (after `npm run build`; the baseline lives under the repository so that it resolves `effect`):
//   git archive <rev> packages/core tsconfig.json | tar -x -C tmp/base
//   npx tsc -p tmp/base/packages/core/tsconfig.build.json
//   node bench/graph-ab.mjs tmp/base/packages/core/dist/src/index.js [rounds=5] [batch=8] [src=128] [prompt=100] [tgt=4]
// PRESET=t5-v1_1-base picks another model shape; ONLY=before (or after) compiles and runs that variant alone, for
// its peak RSS (one process per variant); PROFILE=<prefix> writes ONNX Runtime's per-op profile (summarise it with
// `python3 bench/ort-profile-summary.py <file>.json`).
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { makeOnnxBackend } from "@spot/backend-cuda"
import * as After from "@spot/core"
import { Effect } from "effect"

const Before = await import(pathToFileURL(resolve(process.argv[2])).href)
const [rounds, batch, src, promptLen, tgt] = [3, 4, 5, 6, 7].map((i, k) => Number(process.argv[i] ?? [5, 8, 128, 100, 4][k]))
const preset = process.env.PRESET ?? "t5-v1_1-small"
const model = After.T5Presets.randomT5(After.T5Presets.PRESETS[preset], 0, `random:${preset}`)
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
const request = { prompt, batch: b, outputs: ["loss", "promptGrad"] }
const threads = Number(process.env.THREADS ?? 2)
await Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      const profile = process.env.PROFILE ? { profilePrefix: process.env.PROFILE } : {}
      const backend = yield* makeOnnxBackend({ provider: "cpu", threads, ...profile })
      const runners = []
      const variants = [
        ["before", Before],
        ["after", After],
      ].filter(([name]) => process.env.ONLY === undefined || process.env.ONLY === name)
      for (const [name, core] of variants) {
        const runner = yield* core.T5Runner.makeRunner(model).pipe(Effect.provideService(core.Backend, backend))
        const t0 = performance.now()
        const first = yield* runner.run(request)
        console.log(`${name}: compile + first step ${(performance.now() - t0).toFixed(0)} ms, loss ${first.loss.data[0]}`)
        runners.push({ name, runner, ms: [], first })
      }
      console.log(`peak rss ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`)
      if (runners.length === 2) {
        const [g0, g1] = runners.map((r) => r.first.promptGrad.data)
        let diff = 0
        let norm = 0
        for (let i = 0; i < g0.length; i++) {
          diff = Math.max(diff, Math.abs(g0[i] - g1[i]))
          norm = Math.max(norm, Math.abs(g0[i]))
        }
        console.log(`prompt gradient: max |before − after| ${diff.toExponential(2)} (max |before| ${norm.toExponential(2)})`)
      }
      for (let r = 0; r < rounds; r++) {
        for (const v of runners) {
          const t0 = performance.now()
          yield* v.runner.run(request)
          v.ms.push(performance.now() - t0)
        }
      }
      const med = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]
      const base = med(runners[0].ms)
      if (rounds === 0) return
      for (const v of runners) {
        console.log(
          `${v.name.padEnd(7)} median ${med(v.ms).toFixed(0)} ms  (${(base / med(v.ms)).toFixed(2)}× before)  runs ${v.ms.map((x) => x.toFixed(0)).join(",")}`,
        )
      }
    }),
  ),
)
