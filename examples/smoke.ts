/**
 * A library smoke program for every runtime (`.ci/run` runs it on Node, Deno and Bun): load the
 * shipped micro T5, prompt-tune a generated task for a few steps on the best backend the runtime
 * offers (WebGPU where an adapter exists, the reference interpreter otherwise), then rank the
 * example's bundled prompt library by the task's embedding. Exits non-zero if the loss does not fall.
 *
 *   deno run -A examples/smoke.ts            # WebGPU through Deno's navigator.gpu
 *   bun examples/smoke.ts --backend reference
 *   (on Node the same code runs in the vitest suite; `--backend webgpu` there uses dawn.node)
 */
import { readFileSync } from "node:fs"
import { WebGpuBackend } from "@spot/backend-webgpu"
import { Backend, Progress, ReferenceBackend, T5Checkpoint, T5Runner, Tokenizers, Transfer, Tuning } from "@spot/core"
import { Demo, Synthetic } from "@spot/experiments"
import { Effect, FileSystem, Layer, Path } from "effect"
import { type BundledLibrary, decodeLibrary, retrieve } from "./browser/library.ts"

const root = new URL("../", import.meta.url)
const read = (p: string) => readFileSync(new URL(p, root))
const g = globalThis as { Deno?: { version: { deno: string } }; Bun?: { version: string } }
const runtime = g.Deno ? `deno ${g.Deno.version.deno}` : g.Bun ? `bun ${g.Bun.version}` : `node ${process.version}`

const losses: number[] = []
const progress = Layer.succeed(Progress, {
  report: (e) =>
    Effect.sync(() => {
      if (e.kind === "step" && e.total === STEPS) losses.push(e.loss)
    }),
})
const STEPS = 4

const program = Effect.gen(function* () {
  const backend = yield* Backend
  const model = yield* Effect.fromResult(
    T5Checkpoint.modelFromBytes(
      JSON.parse(read("packages/experiments/models/micro-t5/config.json").toString()),
      new Uint8Array(read("packages/experiments/models/micro-t5/model.safetensors")),
      "models/micro-t5",
    ),
  )
  const runner = yield* T5Runner.makeRunner(model)
  const env = { model, tokenizer: Tokenizers.byteTokenizer, runner }
  const task = Synthetic.taskNamed("food-sentiment")
  if (!task) return yield* Effect.die(new Error("no food-sentiment task"))
  const train = Synthetic.generate(task, "train", 64)
  const valid = Synthetic.generate(task, "valid", 16)
  const tune = { ...Demo.DEFAULT_DEMO.tune, batchSize: 8 }
  const r = yield* Tuning.tunePrompt(env, [train], valid, Tuning.sharedInit(env, tune.promptLength, 0, tune.vocabInit), 0, {
    ...tune,
    steps: STEPS,
    evalEvery: STEPS,
  })
  const embedding = yield* Transfer.taskEmbedding(env, [train], valid, 0, { ...tune, steps: 2 })
  const library = decodeLibrary(JSON.parse(read("examples/browser/library.json").toString()) as BundledLibrary)
  const plan = yield* Effect.fromResult(retrieve(library, embedding, model, tune.promptLength))
  return {
    runtime,
    backend: backend.name,
    losses,
    accuracy: r.bestScore,
    ranking: plan.ranking.map((x) => `${x.candidate.task}#${x.candidate.seed} ${x.similarity.toFixed(3)}`),
  }
})

const choice = process.argv.includes("--backend") ? process.argv[process.argv.indexOf("--backend") + 1] : "auto"
const backend =
  choice === "reference"
    ? ReferenceBackend.layer
    : choice === "webgpu"
      ? WebGpuBackend.layer()
      : WebGpuBackend.layer().pipe(Layer.catchCause(() => ReferenceBackend.layer))
const result = await Effect.runPromise(
  program.pipe(Effect.scoped, Effect.provide(Layer.mergeAll(backend, progress, FileSystem.layerNoop({}), Path.layer))),
)
console.log(JSON.stringify(result))
const ok = result.losses.length === STEPS && result.losses[STEPS - 1] < result.losses[0] && result.ranking.length === 3
if (!ok) {
  console.error("smoke: the loss did not fall or retrieval returned no ranking")
  process.exit(1)
}
process.exit(0)
