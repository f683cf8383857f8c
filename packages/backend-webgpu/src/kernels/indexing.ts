/** Id-indexed kernels (gather, scatter-add, one-hot) and zero padding. */
import { block, header, type Kernel, layout, MAXR, WG } from "./kernel.ts"

export interface IndexedParams {
  /** Elements processed: ids · row. */
  readonly count: number
  /** Elements in a row of the table. */
  readonly row: number
  /** Rows of the table: ids must lie in [0, rows). */
  readonly rows: number
  /** Written to the error flags when an id is out of range (the step's index + 1). */
  readonly code: number
  /** Offset of the table (gather) or the updates (scatter-add). */
  readonly dataOffset: number
  readonly idsOffset: number
}

const X = layout({ count: 1, row: 1, rows: 1, code: 1, dataOff: 1, idsOff: 1 }).at

const encodeIndexed = (q: IndexedParams) => {
  const w = block()
  w[X.count] = q.count
  w[X.row] = q.row
  w[X.rows] = q.rows
  w[X.code] = q.code
  w[X.dataOff] = q.dataOffset
  w[X.idsOff] = q.idsOffset
  return w
}

/**
 * The start of the id-indexed kernels: element i of a row of `row` values addressed by `ids`; an id
 * outside [0, rows) raises the step's error code (read back after the run), runs `onBad`, and
 * stops the thread.
 */
const idPrelude = (onBad: string) => `  let i = gid.x + gid.y * nw.x * ${WG}u;
  if (i >= p(${X.count}u)) { return; }
  let row = p(${X.row}u);
  let id = ids[p(${X.idsOff}u) + i / row];
  if (id < 0 || u32(id) >= p(${X.rows}u)) {
    atomicMax(&err[0], p(${X.code}u));
    atomicStore(&err[1], bitcast<u32>(id));
${onBad}    return;
  }`

/** out[i] = table[ids[i / row] · row + i % row]. */
export const gatherKernel = (): Kernel<IndexedParams> => ({
  source: `${header}@group(0) @binding(1) var<storage, read> table: array<u32>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;
@group(0) @binding(4) var<storage, read_write> err: array<atomic<u32>, 4>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
${idPrelude("    out[i] = 0u;\n")}
  out[i] = table[p(${X.dataOff}u) + u32(id) * row + i % row];
}
`,
  inputs: 2,
  errors: true,
  encode: encodeIndexed,
})

/** out[ids[i / row] · row + i % row] += upd[i]; the output is cleared first; float adds by compare-exchange. */
export const scatterAddKernel = (): Kernel<IndexedParams> => ({
  source: `${header}@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> upd: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> err: array<atomic<u32>, 4>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
${idPrelude("")}
  let v = upd[p(${X.dataOff}u) + i];
  let t = u32(id) * row + i % row;
  var old = atomicLoad(&out[t]);
  loop {
    let r = atomicCompareExchangeWeak(&out[t], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}
`,
  inputs: 2,
  errors: true,
  encode: encodeIndexed,
})

export interface OneHotParams {
  /** Elements of the output: ids · depth. */
  readonly count: number
  readonly depth: number
  readonly idsOffset: number
}

const O = layout({ count: 1, depth: 1, idsOff: 1 }).at

export const oneHotKernel = (): Kernel<OneHotParams> => ({
  source: `${header}@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * ${WG}u;
  if (i >= p(${O.count}u)) { return; }
  let depth = p(${O.depth}u);
  out[i] = select(0.0, 1.0, ids[p(${O.idsOff}u) + i / depth] == i32(i % depth));
}
`,
  inputs: 1,
  errors: false,
  encode: (q) => {
    const w = block()
    w[O.count] = q.count
    w[O.depth] = q.depth
    w[O.idsOff] = q.idsOffset
    return w
  },
})

export interface PadParams {
  /** Elements of the output. */
  readonly count: number
  /** Output shape (at most `MAXR` axes), padding before each axis, and the input view. */
  readonly shape: readonly number[]
  readonly before: readonly number[]
  readonly inShape: readonly number[]
  readonly inStrides: readonly number[]
  readonly offset: number
}

const P = layout({ count: 1, rank: 1, shape: MAXR, before: MAXR, inShape: MAXR, inStr: MAXR, off: 1 }).at

export const padKernel = (): Kernel<PadParams> => ({
  source: `${header}@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * ${WG}u;
  if (i >= p(${P.count}u)) { return; }
  var rem = i;
  var off = p(${P.off}u);
  var inside = true;
  for (var a = i32(p(${P.rank}u)) - 1; a >= 0; a--) {
    let d = p(${P.shape}u + u32(a));
    let c = i32(rem % d) - i32(p(${P.before}u + u32(a)));
    rem = rem / d;
    if (c < 0 || c >= i32(p(${P.inShape}u + u32(a)))) { inside = false; } else { off += u32(c) * p(${P.inStr}u + u32(a)); }
  }
  out[i] = select(0.0, x[off], inside);
}
`,
  inputs: 1,
  errors: false,
  encode: (q) => {
    const w = block()
    w[P.count] = q.count
    w[P.rank] = q.shape.length
    w.set(q.shape, P.shape)
    w.set(q.before, P.before)
    w.set(q.inShape, P.inShape)
    w.set(q.inStrides, P.inStr)
    w[P.off] = q.offset
    return w
  },
})
