/**
 * Elementwise fusion: a node used once, by an elementwise op of its own shape, is computed inside
 * its consumer's kernel instead of being written out and read back. A fused tree is one map kernel
 * whose WGSL inlines every deferred node; a tree that would read more than `MAX_FUSED_INPUTS`
 * leaves has its largest inlined subtrees materialized first.
 */
import { IR, Tensor } from "@spot/core/graph"
import { ELEMENTWISE_WGSL, type ElementwiseKind, MAX_FUSED_INPUTS, mapKernel } from "../kernels/map.ts"
import type { PlanBuilder } from "./builder.ts"
import type { View } from "./types.ts"

type Node = IR.Node

const ELEMENTWISE: ReadonlySet<string> = new Set<ElementwiseKind>([...IR.UNARY, ...IR.BINARY, "where"])
const isElementwise = (n: Node) => ELEMENTWISE.has(n.op.kind)
const wgsl = (n: Node, args: readonly string[]) => ELEMENTWISE_WGSL[n.op.kind as ElementwiseKind](args)

export class Fusion {
  private readonly outputs: ReadonlySet<Node>
  private readonly users = new Map<Node, Node[]>()
  private readonly deferred = new Set<Node>()

  constructor(
    graph: IR.Graph,
    topo: readonly Node[],
    /** The views of the nodes emitted so far (fusion adds the subtrees it materializes). */
    private readonly views: Map<Node, View>,
  ) {
    this.outputs = new Set(Object.values(graph.outputs))
    for (const n of topo) for (const i of new Set(n.inputs)) this.users.set(i, [...(this.users.get(i) ?? []), n])
  }

  /** Defers `n` into its only user's kernel when it can be; true when it was deferred. */
  defer(n: Node): boolean {
    const u = this.users.get(n)
    const fusable =
      isElementwise(n) &&
      !this.outputs.has(n) &&
      u?.length === 1 &&
      u[0].inputs.filter((i) => i === n).length === 1 &&
      isElementwise(u[0]) &&
      Tensor.sameShape(u[0].shape, n.shape)
    if (fusable) this.deferred.add(n)
    return fusable
  }

  private inlined(n: Node) {
    return this.deferred.has(n) && !this.views.has(n)
  }

  /** The leaves (nodes with views) a fused tree reads. */
  private leavesOf(n: Node, acc: Set<Node>): Set<Node> {
    if (this.inlined(n)) for (const i of n.inputs) this.leavesOf(i, acc)
    else acc.add(n)
    return acc
  }

  private rootLeaves(root: Node) {
    const acc = new Set<Node>()
    for (const i of root.inputs) this.leavesOf(i, acc)
    return acc
  }

  private subtreeSize(n: Node): number {
    return this.inlined(n) ? 1 + n.inputs.reduce((a, i) => a + this.subtreeSize(i), 0) : 0
  }

  /** Emits the kernel of an elementwise node with every deferred input inlined. */
  emit(b: PlanBuilder, root: Node): View {
    // too many inputs: materialize the largest inlined subtree first, until the rest fits
    for (;;) {
      if (this.rootLeaves(root).size <= MAX_FUSED_INPUTS) break
      const inner = root.inputs.filter((i) => this.inlined(i)).sort((x, y) => this.subtreeSize(y) - this.subtreeSize(x))
      const big = inner[0]
      if (!big) break
      this.views.set(big, this.emit(b, big))
    }
    const leaves = [...this.rootLeaves(root)]
    const index = new Map(leaves.map((l, j) => [l, j]))
    const body: string[] = []
    const expr = (n: Node): string => {
      const j = index.get(n)
      if (j !== undefined) return `x${j}`
      const args = n.inputs.map(expr)
      body.push(`  let t${body.length} = ${wgsl(n, args)};`)
      return `t${body.length - 1}`
    }
    const top = wgsl(
      root,
      root.inputs.map((i) => expr(i)),
    )
    const kernel = mapKernel(
      leaves.map(() => "f32"),
      "f32",
      top,
      body.length > 0 ? `${body.join("\n")}\n` : "",
    )
    const out = b.temp(root.shape, root.op.kind)
    b.map(
      kernel,
      root.op.kind,
      out,
      leaves.map((l) => this.views.get(l) as View),
    )
    return out
  }
}
