/**
 * Graph → dispatch plan, with no GPU in sight (so it is pure and testable). Every node becomes a
 * *view* (buffer, shape, strides, offset): reshape, transpose, slice, broadcast, fill and same-type
 * casts cost nothing, and kernels read strided views directly — a matmul with a transposed weight
 * or a head-split activation never copies it. Kernel outputs are contiguous temporaries whose
 * buffers are pooled by liveness, so a long backward pass reuses memory as it goes.
 *
 * Each op has its emitter in `plan/emitters.ts`; elementwise chains are fused (`plan/fusion.ts`);
 * kernels and their parameter layouts are in `kernels/`.
 */
import type { IR } from "@spot/core/graph"
import { Tensor } from "@spot/core/graph"
import { Result } from "effect"
import { PlanBuilder } from "./plan/builder.ts"
import { emit } from "./plan/emitters.ts"
import { Fusion } from "./plan/fusion.ts"
import { DEFAULT_TILES, type Tiles } from "./plan/kernels.ts"
import { pool } from "./plan/pool.ts"
import type { Limits, Plan, PlanError, PlanOutput, View } from "./plan/types.ts"

export { DEFAULT_TILES, type Tiles } from "./plan/kernels.ts"
export type { BufferDecl, BufferRole, Limits, Plan, PlanError, PlanOutput, Step, View } from "./plan/types.ts"
export { collapse } from "./plan/views.ts"

export const buildPlan = (
  graph: IR.Graph,
  topo: readonly IR.Node[],
  bound: ReadonlySet<string>,
  limits: Limits,
  tiles: Tiles = DEFAULT_TILES,
): Result.Result<Plan, PlanError> => {
  const b = new PlanBuilder(limits)
  const views = new Map<IR.Node, View>()
  const ctx = { b, fusion: new Fusion(graph, topo, views), tiles, bound }
  for (const n of topo) {
    if (b.failure) break
    const v = emit(
      ctx,
      n,
      n.inputs.map((i) => views.get(i) as View),
    )
    if (v) views.set(n, v)
  }
  if (b.failure) return Result.fail(b.failure)
  const outputs: PlanOutput[] = []
  for (const [name, node] of Object.entries(graph.outputs)) {
    const v = b.contiguous(views.get(node) as View, "output")
    outputs.push({ name, buf: v.buf, offset: v.offset, size: Tensor.size(node.shape), dtype: node.dtype, shape: node.shape })
  }
  if (b.failure) return Result.fail(b.failure)
  const pooled = pool(b.buffers, b.steps, new Set(outputs.map((o) => o.buf)))
  return Result.succeed({ buffers: b.buffers, steps: b.steps, outputs, ...pooled })
}
