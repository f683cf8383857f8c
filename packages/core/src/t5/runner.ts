/**
 * The T5 runner: loss, prompt gradient, weight gradients and forward outputs of a frozen T5 with a
 * soft prompt, for one batch. Graphs are compiled once per shape through the `Backend` service and
 * cached in the runner; the runner is a scoped resource whose compiled sessions are disposed when its
 * scope closes. Decoding and rank classification on top of it are in `decode.ts`.
 */
import { Effect, Result, type Scope } from "effect"
import { BackendError, InputError } from "../errors.ts"
import { grad } from "../graph/autodiff.ts"
import type { BackendShape, Session } from "../graph/backend.ts"
import { Backend } from "../graph/backend.ts"
import type { Node } from "../graph/ir.ts"
import { toI32 } from "../graph/narrow.ts"
import type { HostTensor } from "../graph/tensor.ts"
import { showShape } from "../graph/tensor.ts"
import type { T5Model } from "./checkpoint.ts"
import type { T5Shape } from "./graph.ts"
import { buildT5, dropoutMasks, dropoutSites } from "./graph.ts"

export interface T5Batch {
  /** Token ids [B, S] (i32 or i64). */
  readonly inputIds: HostTensor
  /** 1 for real tokens, 0 for padding [B, S] (any dtype). */
  readonly attentionMask: HostTensor
  /** Target ids [B, T]; -100 marks positions without loss. */
  readonly labels: HostTensor
}

export type TensorOutput = "loss" | "promptGrad" | "logits" | "encoderOut" | "nllPerExample"
export type Output = TensorOutput | "weightGrads"

export type RunResult = Partial<Record<TensorOutput, HostTensor<"f32">>> & {
  /** d loss / d weight for every weight, by Hugging Face name (model tuning). */
  weightGrads?: Map<string, HostTensor<"f32">>
}

const asF32Mask = (t: HostTensor): HostTensor<"f32"> => ({
  dtype: "f32",
  shape: t.shape,
  data: Float32Array.from(t.data as ArrayLike<number | bigint>, Number),
})

/** Decoder inputs: labels shifted right, starting with the decoder start token, -100 → pad. */
export const shiftRight = (labels: HostTensor<"i32">, startId: number, padId: number): HostTensor<"i32"> => {
  const [B, T] = labels.shape
  const out = new Int32Array(B * T)
  for (let b = 0; b < B; b++) {
    out[b * T] = startId
    for (let t = 1; t < T; t++) {
      const v = labels.data[b * T + t - 1]
      out[b * T + t] = v === -100 ? padId : v
    }
  }
  return { dtype: "i32", shape: [B, T], data: out }
}

/** Validates a prompt and a batch against the model and returns the graph feeds and shape. */
export const prepareFeeds = (
  model: T5Model,
  prompt: HostTensor,
  batch: T5Batch,
): Result.Result<{ feeds: Map<string, HostTensor>; shape: T5Shape }, InputError> =>
  Result.gen(function* () {
    const c = model.config
    if (prompt.dtype !== "f32" || prompt.shape.length !== 2 || prompt.shape[1] !== c.dModel) {
      return yield* Result.fail(
        new InputError({
          field: "prompt",
          message: `expected f32 [L, ${c.dModel}], got ${prompt.dtype} ${showShape(prompt.shape)}`,
        }),
      )
    }
    const ids = yield* toI32(batch.inputIds, "input_ids")
    const labels = yield* toI32(batch.labels, "labels")
    if (ids.shape.length !== 2) return yield* Result.fail(new InputError({ field: "input_ids", message: "expected [B, S]" }))
    const [B, S] = ids.shape
    if (labels.shape.length !== 2 || labels.shape[0] !== B) {
      return yield* Result.fail(
        new InputError({ field: "labels", message: `expected [${B}, T], got ${showShape(labels.shape)}` }),
      )
    }
    if (batch.attentionMask.shape.length !== 2 || batch.attentionMask.shape[0] !== B || batch.attentionMask.shape[1] !== S) {
      return yield* Result.fail(
        new InputError({
          field: "attention_mask",
          message: `expected [${B}, ${S}], got ${showShape(batch.attentionMask.shape)}`,
        }),
      )
    }
    const V = c.vocabSize
    const badId = ids.data.findIndex((v) => v < 0 || v >= V)
    if (badId >= 0) {
      return yield* Result.fail(
        new InputError({ field: "input_ids", message: `id ${ids.data[badId]} at ${badId} outside [0, ${V})` }),
      )
    }
    const badLabel = labels.data.findIndex((v) => v !== -100 && (v < 0 || v >= V))
    if (badLabel >= 0) {
      return yield* Result.fail(
        new InputError({
          field: "labels",
          message: `label ${labels.data[badLabel]} at ${badLabel} outside [0, ${V}) and not -100`,
        }),
      )
    }
    const mask = asF32Mask(batch.attentionMask)
    if (mask.data.some((v) => v !== 0 && v !== 1)) {
      return yield* Result.fail(new InputError({ field: "attention_mask", message: "values must be 0 or 1" }))
    }
    const feeds = new Map<string, HostTensor>([
      ["prompt", prompt],
      ["input_ids", ids],
      ["attention_mask", mask],
      ["labels", labels],
      ["decoder_input_ids", shiftRight(labels, c.decoderStartId, c.padId)],
    ])
    return { feeds, shape: { batch: B, srcLen: S, promptLen: prompt.shape[0], tgtLen: labels.shape[1] } }
  })

const shapeKey = (s: T5Shape, outs: readonly Output[], dropout: boolean) =>
  `${s.batch}x${s.srcLen}+${s.promptLen}->${s.tgtLen}:${outs.join(",")}${dropout ? ":dropout" : ""}`

/** One call of the runner. */
export interface RunRequest {
  readonly prompt: HostTensor
  readonly batch: T5Batch
  readonly outputs: readonly Output[]
  /** Current weights when the runner was made with `feedWeights` (model tuning). */
  readonly weights?: ReadonlyMap<string, HostTensor<"f32">>
  /** Training mode: dropout masks drawn from this seed (absent: evaluation mode, no dropout). */
  readonly dropoutSeed?: number
}

/** Compiles (and caches, per shape and outputs) T5 graphs on the current Backend and runs them. */
export interface Runner {
  readonly model: T5Model
  readonly run: (request: RunRequest) => Effect.Effect<RunResult, BackendError | InputError>
  /** How many compiled sessions the runner holds (one per shape, outputs and dropout mode seen). */
  readonly sessions: () => number
}

export interface RunnerOptions {
  /** Feed the weights on every run instead of binding them once (model tuning changes them). */
  readonly feedWeights?: boolean
}

/**
 * A runner for `model` on the current Backend, as a scoped resource: every session it compiled is
 * disposed when the enclosing scope closes (`Effect.scoped`).
 */
export const makeRunner = (model: T5Model, options: RunnerOptions = {}): Effect.Effect<Runner, never, Backend | Scope.Scope> =>
  Effect.acquireRelease(
    Effect.map(Effect.service(Backend), (backend) => runnerOn(backend, model, options)),
    (r) => r.dispose,
  ).pipe(Effect.map(({ runner }) => runner))

const runnerOn = (backend: BackendShape, model: T5Model, options: RunnerOptions) => {
  const cache = new Map<string, { session: Session; sites: Array<{ name: string; shape: readonly number[] }> }>()
  const weightNamesList = [...model.weights.keys()]
  const compile = (shape: T5Shape, outputs: readonly Output[], dropout: boolean) =>
    Effect.gen(function* () {
      const key = shapeKey(shape, outputs, dropout)
      const hit = cache.get(key)
      if (hit) return hit
      const g = buildT5(model.config, shape, { dropout })
      const outs: Record<string, Node> = {}
      if (outputs.includes("loss")) outs.loss = g.loss
      if (outputs.includes("logits")) outs.logits = g.logits
      if (outputs.includes("encoderOut")) outs.encoderOut = g.encoderOut
      if (outputs.includes("nllPerExample")) outs.nllPerExample = g.nllPerExample
      const wantW = outputs.includes("weightGrads")
      if (outputs.includes("promptGrad") || wantW) {
        const wrt: Node[] = []
        if (outputs.includes("promptGrad")) wrt.push(g.prompt)
        const wNodes = wantW ? weightNamesList.map((n) => g.weight(n)) : []
        const grads = grad(g.loss, [...wrt, ...wNodes])
        if (Result.isFailure(grads)) {
          return yield* new BackendError({ backend: backend.name, op: grads.failure.op, message: grads.failure.message })
        }
        let i = 0
        if (outputs.includes("promptGrad")) outs.promptGrad = grads.success[i++]
        for (const n of weightNamesList) if (wantW) outs[`grad:${n}`] = grads.success[i++]
      }
      const session = yield* backend.compile({ outputs: outs }, options.feedWeights ? new Map() : model.weights)
      const entry = { session, sites: dropoutSites(g) }
      cache.set(key, entry)
      return entry
    })
  const run: Runner["run"] = ({ prompt, batch, outputs, weights, dropoutSeed }) =>
    Effect.gen(function* () {
      const { feeds, shape } = yield* Effect.fromResult(prepareFeeds(model, prompt, batch))
      if (options.feedWeights) for (const [k, v] of weights ?? model.weights) feeds.set(k, v)
      const dropout = dropoutSeed !== undefined && model.config.dropoutRate > 0
      const { session, sites } = yield* compile(shape, outputs, dropout)
      if (dropout) for (const [k, v] of dropoutMasks(sites, model.config.dropoutRate, dropoutSeed)) feeds.set(k, v)
      const res = yield* session.run(feeds)
      const out: RunResult = {}
      for (const o of outputs) if (o !== "weightGrads" && res[o]) out[o] = res[o] as HostTensor<"f32">
      if (outputs.includes("weightGrads")) {
        out.weightGrads = new Map(weightNamesList.map((n) => [n, res[`grad:${n}`] as HostTensor<"f32">]))
      }
      return out
    })
  const runner: Runner = { model, run, sessions: () => cache.size }
  const dispose = Effect.suspend(() => {
    const sessions = [...cache.values()].map((e) => e.session)
    cache.clear()
    return Effect.forEach(sessions, (s) => s.dispose, { discard: true })
  })
  return { runner, dispose }
}
