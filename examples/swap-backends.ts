/**
 * Loss and prompt gradient of a T5 checkpoint, on whichever backend the environment offers:
 * WebGPU when an adapter exists, else ONNX Runtime when it loads, else the reference interpreter
 * (Layer fallbacks: the program itself only asks for the `Backend` service).
 *
 *   bun examples/swap-backends.ts   # or: deno run -A examples/swap-backends.ts
 */
import { NodeServices } from "@effect/platform-node"
import { OnnxBackend } from "@spot/backend-cuda"
import { WebGpuBackend } from "@spot/backend-webgpu"
import { Backend, ReferenceBackend, T5Checkpoint, T5Runner, Tensor } from "@spot/core"
import { Console, Effect, Layer } from "effect"

const dir = process.argv[2] ?? "../shared/fixtures/hf-t5-parity/t5v1_1-untied-tiny/model"

const program = Effect.gen(function* () {
  const model = yield* T5Checkpoint.loadCheckpoint(dir)
  const runner = yield* T5Runner.makeRunner(model)
  const d = model.config.dModel
  const prompt = Tensor.f32(
    [4, d],
    Array.from({ length: 4 * d }, (_, i) => Math.sin(i) * 0.5),
  )
  const batch = {
    inputIds: Tensor.i32([1, 3], [5, 6, 1]),
    attentionMask: Tensor.f32([1, 3], [1, 1, 1]),
    labels: Tensor.i32([1, 2], [7, 1]),
  }
  const out = yield* runner.run({ prompt, batch, outputs: ["loss", "promptGrad"] })
  const { name } = yield* Backend
  yield* Console.log(`${name}: loss ${out.loss?.data[0]}, |grad| ${Math.hypot(...(out.promptGrad?.data ?? []))}`)
})

const backend = WebGpuBackend.layer().pipe(
  Layer.catchCause(() => OnnxBackend.layer({ provider: "cpu" })),
  Layer.catchCause(() => ReferenceBackend.layer),
)
Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Layer.mergeAll(NodeServices.layer, backend))))
