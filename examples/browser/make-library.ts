/**
 * Regenerates the example's bundled library (library.json): source prompts and task embeddings of
 * the demo's three source tasks on the shipped micro T5, trained on ONNX Runtime (CPU). Run through
 * `node examples/browser/build.mjs --library` (about a minute on 2 cores).
 */
import { NodeServices } from "@effect/platform-node"
import { OnnxBackend } from "@spot/backend-cuda"
import { type LibraryEntry, Safetensors, T5Checkpoint, T5Runner, Tokenizers, Transfer, Tuning } from "@spot/core"
import { Demo, Synthetic } from "@spot/experiments"
import { Console, Effect, Layer } from "effect"
import { encodeLibrary } from "./library.ts"

const [modelDir = "packages/experiments/models/micro-t5", out = "examples/browser/library.json"] = process.argv.slice(2)
/** The demo's sources: one per target family. */
export const SOURCES = Demo.DEFAULT_DEMO.sources
export const EMBEDDING_STEPS = 10
const SOURCE_STEPS = 60

const program = Effect.gen(function* () {
  const model = yield* T5Checkpoint.loadCheckpoint(modelDir)
  const runner = yield* T5Runner.makeRunner(model)
  const env = { model, tokenizer: Tokenizers.byteTokenizer, runner }
  const tune = Demo.DEFAULT_DEMO.tune
  const entries: LibraryEntry[] = []
  for (const name of SOURCES) {
    const task = Synthetic.taskNamed(name)
    if (!task) return yield* Effect.die(new Error(`unknown task ${name}`))
    const train = Synthetic.generate(task, "train", 256)
    const valid = Synthetic.generate(task, "valid", 64)
    const seed = 0
    const r = yield* Tuning.tunePrompt(env, [train], valid, Tuning.sharedInit(env, tune.promptLength, seed), seed, {
      ...tune,
      steps: SOURCE_STEPS,
      evalEvery: 20,
    })
    const embedding = yield* Transfer.taskEmbedding(env, [train], valid, seed, { ...tune, steps: EMBEDDING_STEPS })
    entries.push({
      name,
      task: name,
      description: `generated task ${name}`,
      model: T5Checkpoint.modelKey(model),
      promptLength: tune.promptLength,
      created: "2026-11-26T00:00:00.000Z",
      seeds: [
        {
          seed,
          source: r.best,
          embedding,
          metrics: { accuracy: r.bestScore },
          provenance: { steps: String(SOURCE_STEPS), embedding_step: String(EMBEDDING_STEPS) },
        },
      ],
    })
    yield* Console.log(`${name}: accuracy ${(100 * r.bestScore).toFixed(1)}`)
  }
  yield* Safetensors.writeFileAtomic(out, new TextEncoder().encode(`${JSON.stringify(encodeLibrary(entries))}\n`))
  yield* Console.log(`wrote ${out}`)
})

Effect.runPromise(
  program.pipe(Effect.scoped, Effect.provide(Layer.mergeAll(NodeServices.layer, OnnxBackend.layer({ provider: "cpu" })))),
)
