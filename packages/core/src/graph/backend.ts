/**
 * The backend contract, after onnxruntime-common's: compile a graph once (binding its weights, which
 * a device backend keeps resident), then run it many times with per-call feeds.
 *
 * `Backend.make(impl)` is the one place where graphs, weights and feeds are checked: the graph has no
 * shape error, every weight and feed matches its input's declared shape and dtype class, integers are
 * narrowed i64 → i32 with a range check. A backend supplies only `lower` (graph → its compiled form)
 * and `execute` (compiled form + validated feeds → outputs), after Effect's `make(impl)`.
 */
import { Context, Effect, Layer, Result } from "effect"
import { BackendError } from "./errors.ts"
import { evaluate } from "./interpreter.ts"
import type { Graph, Node } from "./ir.ts"
import { checkGraph } from "./ir.ts"
import { toI32 } from "./narrow.ts"
import type { HostTensor } from "./tensor.ts"
import { sameShape, showShape } from "./tensor.ts"

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

/** A tensor after `Backend.make`'s checks: f32 or i32 (i64 narrowed), shape as the graph declares it. */
export type CheckedTensor = HostTensor<"f32" | "i32">

/** What `Backend.make` hands a backend at compile time: the graph, checked, and its inputs split. */
export interface CheckedGraph {
  readonly graph: Graph
  /** Every node of the graph, inputs before their users. */
  readonly nodes: readonly Node[]
  /** Graph inputs bound once (weights), by name, checked against their declared shape and dtype. */
  readonly weights: ReadonlyMap<string, CheckedTensor>
  /** Graph inputs fed on every run, by name: their declared nodes (shape, dtype). */
  readonly feeds: ReadonlyMap<string, Node>
}

/** The two things a backend supplies to `Backend.make`. */
export interface BackendImpl<Compiled> {
  readonly name: string
  /** Lowers a checked graph to the backend's compiled form (ONNX session, WGSL plan, …). */
  readonly lower: (graph: CheckedGraph) => Effect.Effect<Compiled, BackendError>
  /** Runs it; `feeds` holds exactly the graph's per-run inputs, checked and narrowed. */
  readonly execute: (compiled: Compiled, feeds: ReadonlyMap<string, CheckedTensor>) => Effect.Effect<Outputs, BackendError>
  /** Frees what `lower` allocated (default: nothing). */
  readonly dispose?: (compiled: Compiled) => Effect.Effect<void>
}

/** Checks one bound tensor against the input node that declares it; narrows i64 to i32. */
export const checkTensor = (
  backend: string,
  role: "weight" | "input",
  name: string,
  node: Node,
  t: HostTensor,
): Result.Result<CheckedTensor, BackendError> => {
  const fail = (message: string) => Result.fail(new BackendError({ backend, op: "input", message }))
  if (!sameShape(t.shape, node.shape)) {
    return fail(`${role} "${name}" expects ${showShape(node.shape)}, got ${showShape(t.shape)}`)
  }
  if (node.dtype === "f32") {
    return t.dtype === "f32" ? Result.succeed(t as HostTensor<"f32">) : fail(`${role} "${name}" expects f32, got ${t.dtype}`)
  }
  if (t.dtype === "f32") return fail(`${role} "${name}" expects integers (i32 or i64), got f32`)
  const narrowed = toI32(t, name)
  return Result.isSuccess(narrowed) ? Result.succeed(narrowed.success) : fail(`${role} "${name}": ${narrowed.failure.message}`)
}

const entries = (feeds: Feeds): Iterable<readonly [string, HostTensor]> =>
  feeds instanceof Map ? feeds : Object.entries(feeds as Record<string, HostTensor>)

/**
 * Checks the graph and its weights once; the per-run inputs are those not bound as weights. With
 * `narrowed`, an i64 weight is narrowed once per host array and keeps that identity across graphs.
 */
export const checkCompile = (
  backend: string,
  graph: Graph,
  weights: ReadonlyMap<string, HostTensor>,
  narrowed?: WeakMap<object, CheckedTensor>,
): Result.Result<CheckedGraph, BackendError> => {
  const checked = checkGraph(graph)
  if (Result.isFailure(checked)) {
    return Result.fail(new BackendError({ backend, op: checked.failure.op, message: checked.failure.message }))
  }
  const bound = new Map<string, CheckedTensor>()
  const feeds = new Map<string, Node>()
  for (const n of checked.success) {
    if (n.op.kind !== "input" || bound.has(n.op.name) || feeds.has(n.op.name)) continue
    const w = weights.get(n.op.name)
    if (w === undefined) {
      feeds.set(n.op.name, n)
      continue
    }
    const hit = w.dtype === "i64" && n.dtype === "i32" && sameShape(w.shape, n.shape) ? narrowed?.get(w.data) : undefined
    const t = hit ? Result.succeed(hit) : checkTensor(backend, "weight", n.op.name, n, w)
    if (Result.isFailure(t)) return Result.fail(t.failure)
    if (w.dtype === "i64") narrowed?.set(w.data, t.success)
    bound.set(n.op.name, t.success)
  }
  return Result.succeed({ graph, nodes: checked.success, weights: bound, feeds })
}

/** Checks the feeds of one run: every per-run input present, shapes and dtypes as declared. */
export const checkFeeds = (
  backend: string,
  graph: CheckedGraph,
  feeds: Feeds,
): Result.Result<ReadonlyMap<string, CheckedTensor>, BackendError> => {
  const given = new Map(entries(feeds))
  const out = new Map<string, CheckedTensor>()
  for (const [name, node] of graph.feeds) {
    const t = given.get(name)
    if (t === undefined)
      return Result.fail(new BackendError({ backend, op: "input", message: `no value fed for input "${name}"` }))
    const c = checkTensor(backend, "input", name, node, t)
    if (Result.isFailure(c)) return Result.fail(c.failure)
    out.set(name, c.success)
  }
  return Result.succeed(out)
}

/**
 * A `BackendShape` from a backend's `lower` and `execute`; every check lives here, once. A weight
 * reaches `lower` as the caller's own tensor (f32, i32) or, for i64, as one narrowed copy per host
 * array, so a device backend can keep it resident across every graph it is bound to.
 */
export const make = <Compiled>(impl: BackendImpl<Compiled>): BackendShape => {
  const narrowed = new WeakMap<object, CheckedTensor>()
  return {
    name: impl.name,
    compile: (graph, weights) =>
      Effect.gen(function* () {
        const checked = checkCompile(impl.name, graph, weights, narrowed)
        if (Result.isFailure(checked)) return yield* checked.failure
        const compiled = yield* impl.lower(checked.success)
        return {
          run: (feeds) =>
            Effect.suspend(() => {
              const f = checkFeeds(impl.name, checked.success, feeds)
              return Result.isSuccess(f) ? impl.execute(compiled, f.success) : Effect.fail(f.failure)
            }),
          dispose: impl.dispose ? impl.dispose(compiled) : Effect.void,
        } satisfies Session
      }),
  }
}

export class Backend extends Context.Service<Backend, BackendShape>()("@spot/core/Backend") {
  /** Builds a backend from `lower` and `execute`; graph, weight and feed checks are done here. */
  static readonly make = make
}

/** The reference interpreter as a backend: the oracle every other backend is tested against. */
export const referenceBackend: BackendShape = make({
  name: "reference",
  lower: (g) => Effect.succeed(g),
  execute: (g, feeds) => {
    const all = new Map<string, HostTensor>(g.weights)
    for (const [k, v] of feeds) all.set(k, v)
    const r = evaluate(g.graph, all)
    return Result.isSuccess(r) ? Effect.succeed(r.success) : Effect.fail(r.failure)
  },
})

export const ReferenceBackend = {
  layer: Layer.succeed(Backend, referenceBackend),
}
