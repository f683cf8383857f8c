/** Reductions over any set of axes (a thread or a workgroup per output) and softmax over one axis. */
import { block, header, type Kernel, layout, MAXR, WG } from "./kernel.ts"

/** Axes walked by a reduction: shape and strides (at most `MAXR` each). */
export interface Axes {
  readonly shape: readonly number[]
  readonly strides: readonly number[]
}

export interface ReduceParams {
  readonly outputs: number
  /** Elements reduced into each output. */
  readonly reduced: number
  readonly kept: Axes
  readonly red: Axes
  /** Offset of the input view. */
  readonly offset: number
}

const R = layout({
  outputs: 1,
  reduced: 1,
  keptRank: 1,
  redRank: 1,
  keptShape: MAXR,
  keptStr: MAXR,
  redShape: MAXR,
  redStr: MAXR,
  off: 1,
}).at

const encodeReduce = (q: ReduceParams) => {
  const w = block()
  w[R.outputs] = q.outputs
  w[R.reduced] = q.reduced
  w[R.keptRank] = q.kept.shape.length
  w[R.redRank] = q.red.shape.length
  w.set(q.kept.shape, R.keptShape)
  w.set(q.kept.strides, R.keptStr)
  w.set(q.red.shape, R.redShape)
  w.set(q.red.strides, R.redStr)
  w[R.off] = q.offset
  return w
}

const reduceCommon = `${header}@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
fn base(o: u32) -> u32 {
  var rem = o;
  var off = p(${R.off}u);
  for (var a = i32(p(${R.keptRank}u)) - 1; a >= 0; a--) {
    let d = p(${R.keptShape}u + u32(a));
    off += (rem % d) * p(${R.keptStr}u + u32(a));
    rem = rem / d;
  }
  return off;
}
fn at(r: u32) -> u32 {
  if (p(${R.redRank}u) == 1u) { return r * p(${R.redStr}u); }
  var rem = r;
  var off = 0u;
  for (var a = i32(p(${R.redRank}u)) - 1; a >= 0; a--) {
    let d = p(${R.redShape}u + u32(a));
    off += (rem % d) * p(${R.redStr}u + u32(a));
    rem = rem / d;
  }
  return off;
}
`

const combine = (kind: "sum" | "max", a: string, b: string) => (kind === "sum" ? `${a} + ${b}` : `max(${a}, ${b})`)
const identity = (kind: "sum" | "max") => (kind === "sum" ? "0.0" : "-3.402823466e+38")

/** One thread per output: for short reductions. */
export const reduceThreadKernel = (kind: "sum" | "max"): Kernel<ReduceParams> => ({
  source: `${reduceCommon}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let o = gid.x + gid.y * nw.x * ${WG}u;
  if (o >= p(${R.outputs}u)) { return; }
  let b = base(o);
  var acc = ${identity(kind)};
  for (var r = 0u; r < p(${R.reduced}u); r++) { acc = ${combine(kind, "acc", "x[b + at(r)]")}; }
  out[o] = acc;
}
`,
  inputs: 1,
  errors: false,
  encode: encodeReduce,
})

/** One workgroup per output, tree-reduced in workgroup memory: for long reductions. */
export const reduceGroupKernel = (kind: "sum" | "max", wg: number): Kernel<ReduceParams> => ({
  source: `${reduceCommon}
var<workgroup> part: array<f32, ${wg}>;
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let o = wg.x + wg.y * nw.x;
  let live = o < p(${R.outputs}u);
  var acc = ${identity(kind)};
  if (live) {
    let b = base(o);
    for (var r = li; r < p(${R.reduced}u); r += ${wg}u) { acc = ${combine(kind, "acc", "x[b + at(r)]")}; }
  }
  part[li] = acc;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
    if (li < s) { part[li] = ${combine(kind, "part[li]", "part[li + s]")}; }
    workgroupBarrier();
  }
  if (live && li == 0u) { out[o] = part[0]; }
}
`,
  inputs: 1,
  errors: false,
  encode: encodeReduce,
})

export interface SoftmaxParams {
  /** Rows (outer · inner); 0 for an empty axis. */
  readonly rows: number
  /** Length of the softmax axis. */
  readonly len: number
  /** Elements after the axis (the stride of the axis). */
  readonly inner: number
  /** Offset of the (contiguous) input. */
  readonly offset: number
}

const S = layout({ rows: 1, len: 1, inner: 1, off: 1 }).at

const allReduce = (wg: number) => `var<workgroup> part: array<f32, ${wg}>;
fn allReduce(li: u32, v: f32, isMax: bool) -> f32 {
  part[li] = v;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
    if (li < s) {
      if (isMax) { part[li] = max(part[li], part[li + s]); } else { part[li] = part[li] + part[li + s]; }
    }
    workgroupBarrier();
  }
  let r = part[0];
  workgroupBarrier();
  return r;
}`

/**
 * Softmax (or log-softmax) along one axis of a contiguous tensor: `wg` threads per row (tree-reduced
 * in workgroup memory), or with `wg` = 1 one thread per row, for short rows.
 */
export const softmaxKernel = (log: boolean, wg: number): Kernel<SoftmaxParams> => {
  const finish = log
    ? `let ls = log(s);
  for (var t = li; t < len; t += ${wg}u) { out[ob + t * inner] = x[ib + t * inner] - mx - ls; }`
    : `let inv = 1.0 / s;
  for (var t = li; t < len; t += ${wg}u) { out[ob + t * inner] = exp(x[ib + t * inner] - mx) * inv; }`
  const reduce = (v: string, isMax: boolean) => (wg === 1 ? "" : `${v} = allReduce(li, ${v}, ${isMax});`)
  const source = `${header}@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${wg === 1 ? "" : allReduce(wg)}
@compute @workgroup_size(${wg === 1 ? WG : wg})
fn main(@builtin(workgroup_id) wgid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) lix: u32) {
  ${wg === 1 ? `let row = (wgid.x + wgid.y * nw.x) * ${WG}u + lix;\n  let li = 0u;` : "let row = wgid.x + wgid.y * nw.x;\n  let li = lix;"}
  let live = row < p(${S.rows}u);
  let len = p(${S.len}u);
  let inner = p(${S.inner}u);
  let ob = (row / inner) * len * inner + row % inner;
  let ib = ob + p(${S.off}u);
  var mx = -3.402823466e+38;
  if (live) { for (var t = li; t < len; t += ${wg}u) { mx = max(mx, x[ib + t * inner]); } }
  ${reduce("mx", true)}
  var s = 0.0;
  if (live) { for (var t = li; t < len; t += ${wg}u) { s += exp(x[ib + t * inner] - mx); } }
  ${reduce("s", false)}
  if (!live) { return; }
  ${finish}
}
`
  const encode = (q: SoftmaxParams) => {
    const w = block()
    w[S.rows] = q.rows
    w[S.len] = q.len
    w[S.inner] = q.inner
    w[S.off] = q.offset
    return w
  }
  return { source, inputs: 1, errors: false, encode }
}
