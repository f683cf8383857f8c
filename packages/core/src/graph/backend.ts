/**
 * The backend contract, after onnxruntime-common's: compile a graph once (binding its weights, which
 * a device backend keeps resident), then run it many times with per-call feeds.
 */
import { Context, Effect, Layer, Result } from "effect"
import type { BackendError } from "./errors.ts"
import { evaluate } from "./interpreter.ts"
import type { Graph } from "./ir.ts"
import type { HostTensor } from "./tensor.ts"

export type Feeds = ReadonlyMap<string, HostTensor> | Readonly<Record<string, HostTensor>>
export type Outputs = Record<string, HostTensor<"f32" | "i32">>

export interface Session {
  /** Runs the compiled graph; `feeds` binds every graph input that was not bound at compile time. */
  readonly run: (feeds: Feeds) => Effect.Effect<Outputs, BackendError>
  /** Frees device resources; the session must not be used afterwards. */
  readonly dispose: Effect.Effect<void>
}

export interface BackendShape {
  /** Short name, e.g. `reference`, `onnx:cpu`, `webgpu`. */
  readonly name: string
  /** Compiles `graph`; inputs named in `weights` are bound once, the rest are fed per run. */
  readonly compile: (graph: Graph, weights: ReadonlyMap<string, HostTensor>) => Effect.Effect<Session, BackendError>
}

export class Backend extends Context.Service<Backend, BackendShape>()("@spot/core/Backend") {}

const merge = (weights: ReadonlyMap<string, HostTensor>, feeds: Feeds): Map<string, HostTensor> => {
  const all = new Map(weights)
  for (const [k, v] of feeds instanceof Map ? feeds : Object.entries(feeds)) all.set(k, v)
  return all
}

/** The reference interpreter as a backend: the oracle every other backend is tested against. */
export const referenceBackend: BackendShape = {
  name: "reference",
  compile: (graph, weights) =>
    Effect.succeed({
      run: (feeds) => {
        const r = evaluate(graph, merge(weights, feeds))
        return Result.isSuccess(r) ? Effect.succeed(r.success) : Effect.fail(r.failure)
      },
      dispose: Effect.void,
    }),
}

export const ReferenceBackend = {
  layer: Layer.succeed(Backend, referenceBackend),
}
