/**
 * Parity against Hugging Face `transformers`: recomputes a fixture's loss, logits, encoder output,
 * prompt gradient and greedy generation on the current Backend and compares them with the reference
 * values (layout of `shared/fixtures/hf-t5-parity/*`).
 */
import { Effect, Path } from "effect"
import { CheckpointError } from "./errors.ts"
import { readSafetensors } from "./graph/safetensors.ts"
import type { HostTensor } from "./graph/tensor.ts"
import { toF32 } from "./graph/tensor.ts"
import { loadCheckpoint } from "./t5/checkpoint.ts"
import { generateGreedy } from "./t5/decode.ts"
import { makeRunner } from "./t5/runner.ts"

export const TOLERANCE = { lossRel: 1e-4, logitsRel: 1e-4, encoderRel: 1e-4, gradCosine: 0.9999, gradMaxRel: 1e-3 } as const

export interface ParityReport {
  readonly fixture: string
  readonly backend: string
  readonly loss: number
  readonly reference_loss: number
  readonly loss_rel_err: number
  readonly logits_max_abs_err: number
  readonly logits_rel_err: number
  readonly encoder_max_abs_err: number
  readonly encoder_rel_err: number
  readonly nll_rel_err: number
  readonly grad_cosine: number
  readonly grad_max_rel_err: number
  readonly generation_exact: boolean
  readonly seconds: number
  readonly pass: boolean
}

const maxAbs = (a: Float32Array, b: Float32Array) => {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]))
  return a.length === b.length ? m : Number.POSITIVE_INFINITY
}
const maxAbsOf = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0)
/** Max absolute error relative to the reference's largest magnitude. */
export const relMaxErr = (got: Float32Array, want: Float32Array) => maxAbs(got, want) / Math.max(maxAbsOf(want), 1e-30)
export const cosine = (a: Float32Array, b: Float32Array) => {
  let ab = 0
  let aa = 0
  let bb = 0
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i]
    aa += a[i] * a[i]
    bb += b[i] * b[i]
  }
  return ab / Math.sqrt(aa * bb)
}

export const runParity = (fixtureDir: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const path = yield* Path.Path
      const started = performance.now()
      const model = yield* loadCheckpoint(path.join(fixtureDir, "model"))
      const refFile = path.join(fixtureDir, "reference.safetensors")
      const ref = (yield* readSafetensors(refFile)).tensors
      const need = (name: string) =>
        ref.has(name)
          ? Effect.succeed(ref.get(name) as HostTensor)
          : Effect.fail(new CheckpointError({ file: refFile, field: name, message: `missing tensor ${name}` }))
      const prompt = yield* need("prompt")
      const batch = {
        inputIds: yield* need("input_ids"),
        attentionMask: yield* need("attention_mask"),
        labels: yield* need("labels"),
      }
      const runner = yield* makeRunner(model)
      const out = yield* runner.run({ prompt, batch, outputs: ["loss", "logits", "encoderOut", "promptGrad", "nllPerExample"] })
      const expected = yield* need("generated_ids")
      const maxNew = expected.shape[1] - 1
      const gen = yield* generateGreedy(runner, { ...batch, prompt, maxNewTokens: maxNew })
      const want = Int32Array.from(expected.data as ArrayLike<number | bigint>, Number)
      const generationExact = gen.data.length === want.length && gen.data.every((v, i) => v === want[i])
      const f = (t: HostTensor | undefined) => (t ? toF32(t).data : new Float32Array())
      const loss = f(out.loss)[0]
      const refLoss = f(yield* need("loss"))[0]
      const logits = f(out.logits)
      const refLogits = f(yield* need("logits"))
      const enc = f(out.encoderOut)
      const refEnc = f(yield* need("encoder_last_hidden_state"))
      const g = f(out.promptGrad)
      const refG = f(yield* need("prompt_grad"))
      const lossRel = Math.abs(loss - refLoss) / Math.abs(refLoss)
      const logitsRel = relMaxErr(logits, refLogits)
      const encRel = relMaxErr(enc, refEnc)
      const nllRel = relMaxErr(f(out.nllPerExample), f(yield* need("nll_sum_per_example")))
      const gradCos = cosine(g, refG)
      const gradRel = relMaxErr(g, refG)
      const pass =
        lossRel < TOLERANCE.lossRel &&
        logitsRel < TOLERANCE.logitsRel &&
        encRel < TOLERANCE.encoderRel &&
        nllRel < TOLERANCE.lossRel &&
        gradCos > TOLERANCE.gradCosine &&
        gradRel < TOLERANCE.gradMaxRel &&
        generationExact
      return {
        fixture: fixtureDir,
        backend: "",
        loss,
        reference_loss: refLoss,
        loss_rel_err: lossRel,
        logits_max_abs_err: maxAbs(logits, refLogits),
        logits_rel_err: logitsRel,
        encoder_max_abs_err: maxAbs(enc, refEnc),
        encoder_rel_err: encRel,
        nll_rel_err: nllRel,
        grad_cosine: gradCos,
        grad_max_rel_err: gradRel,
        generation_exact: generationExact,
        seconds: (performance.now() - started) / 1000,
        pass,
      } satisfies ParityReport
    }),
  )
