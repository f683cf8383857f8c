/**
 * WGSL sources, one generator per kernel family. Kernels are shape-generic: every shape, stride and
 * offset comes from a per-dispatch uniform block (`PARAM_WORDS` u32 words), so one pipeline serves
 * every shape and a graph of any size compiles a few dozen pipelines at most. The key of a kernel is
 * its source text, and pipelines are cached per device by key.
 */

/** Largest rank a strided kernel handles (after merging contiguous axes). */
export const MAXR = 8
/** u32 words of parameters per dispatch (the uniform slot is PARAM_WORDS * 4 bytes). */
export const PARAM_WORDS = 128
/** Threads per workgroup of the elementwise and per-output kernels. */
export const WG = 256

export interface Kernel {
  /** Cache key and WGSL source in one. */
  readonly source: string
  /** Storage bindings after the uniform: read-only inputs, then the output, then the error flags. */
  readonly inputs: number
  readonly errors: boolean
}

const header = `struct Params { v: array<vec4<u32>, ${PARAM_WORDS / 4}> }
@group(0) @binding(0) var<uniform> P: Params;
fn p(i: u32) -> u32 { return P.v[i >> 2u][i & 3u]; }
fn pf(i: u32) -> f32 { return bitcast<f32>(p(i)); }
`

export type ElemType = "f32" | "u32" | "i32"

// ---- strided map: out[view] = f(in_1[view_1], ..., in_n[view_n]) ----

/**
 * Parameter layout of a map kernel with `n` inputs: [0] element count, [1] rank, [2..] shape;
 * operand j (0 = output, 1.. = inputs) has strides at `mapStrides(n, j)` and an offset at
 * `mapOffset(n, j)`; a scalar argument (fill value) sits at `mapScalar(n)`.
 */
export const mapStrides = (_n: number, j: number) => 2 + MAXR * (1 + j)
export const mapOffset = (n: number, j: number) => 2 + MAXR * (2 + n) + j
export const mapScalar = (n: number) => mapOffset(n, n) + 1

/** `expr` reads its inputs as `x0`, `x1`, …, the scalar parameter as `s`, and what `body` defines. */
export const mapKernel = (inTypes: readonly ElemType[], outType: ElemType, expr: string, body = ""): Kernel => {
  const n = inTypes.length
  const bindings = [
    ...inTypes.map((t, j) => `@group(0) @binding(${j + 1}) var<storage, read> in${j}: array<${t}>;`),
    `@group(0) @binding(${n + 1}) var<storage, read_write> out: array<${outType}>;`,
  ].join("\n")
  const offs = Array.from({ length: n + 1 }, (_, j) => `  var o${j} = p(${mapOffset(n, j)}u);`).join("\n")
  const acc = Array.from({ length: n + 1 }, (_, j) => `    o${j} += c * p(${mapStrides(n, j)}u + u32(a));`).join("\n")
  const reads = inTypes.map((_, j) => `  let x${j} = in${j}[o${j + 1}];`).join("\n")
  const source = `${header}${bindings}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * ${WG}u;
  if (i >= p(0u)) { return; }
  let s = pf(${mapScalar(n)}u);
${offs}
  var rem = i;
  for (var a = i32(p(1u)) - 1; a >= 0; a--) {
    let d = p(2u + u32(a));
    let c = rem % d;
    rem = rem / d;
${acc}
  }
${reads}
${body}  out[o0] = ${expr};
}
`
  return { source, inputs: n, errors: false }
}

// ---- reductions ----

/**
 * Layout: [0] outputs, [1] reduced count, [2] kept rank, [3] reduced rank, kept shape at 4, kept
 * strides at 4+MAXR, reduced shape at 4+2·MAXR, reduced strides at 4+3·MAXR, input offset at 4+4·MAXR.
 */
export const RED = { keptShape: 4, keptStr: 4 + MAXR, redShape: 4 + 2 * MAXR, redStr: 4 + 3 * MAXR, off: 4 + 4 * MAXR }

const reduceCommon = `${header}@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
fn base(o: u32) -> u32 {
  var rem = o;
  var off = p(${RED.off}u);
  for (var a = i32(p(2u)) - 1; a >= 0; a--) {
    let d = p(${RED.keptShape}u + u32(a));
    off += (rem % d) * p(${RED.keptStr}u + u32(a));
    rem = rem / d;
  }
  return off;
}
fn at(r: u32) -> u32 {
  if (p(3u) == 1u) { return r * p(${RED.redStr}u); }
  var rem = r;
  var off = 0u;
  for (var a = i32(p(3u)) - 1; a >= 0; a--) {
    let d = p(${RED.redShape}u + u32(a));
    off += (rem % d) * p(${RED.redStr}u + u32(a));
    rem = rem / d;
  }
  return off;
}
`

const combine = (kind: "sum" | "max", a: string, b: string) => (kind === "sum" ? `${a} + ${b}` : `max(${a}, ${b})`)
const identity = (kind: "sum" | "max") => (kind === "sum" ? "0.0" : "-3.402823466e+38")

/** One thread per output: for short reductions. */
export const reduceThreadKernel = (kind: "sum" | "max"): Kernel => ({
  source: `${reduceCommon}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let o = gid.x + gid.y * nw.x * ${WG}u;
  if (o >= p(0u)) { return; }
  let b = base(o);
  var acc = ${identity(kind)};
  for (var r = 0u; r < p(1u); r++) { acc = ${combine(kind, "acc", "x[b + at(r)]")}; }
  out[o] = acc;
}
`,
  inputs: 1,
  errors: false,
})

/** One workgroup per output, tree-reduced in workgroup memory: for long reductions. */
export const reduceGroupKernel = (kind: "sum" | "max", wg: number): Kernel => ({
  source: `${reduceCommon}
var<workgroup> part: array<f32, ${wg}>;
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let o = wg.x + wg.y * nw.x;
  let live = o < p(0u);
  var acc = ${identity(kind)};
  if (live) {
    let b = base(o);
    for (var r = li; r < p(1u); r += ${wg}u) { acc = ${combine(kind, "acc", "x[b + at(r)]")}; }
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
})

// ---- softmax over one axis ----

/**
 * Layout: [0] rows (outer·inner), [1] axis length, [2] inner, [3] input offset. `wg` threads per row
 * (tree-reduced in workgroup memory), or with `wg` = 1 one thread per row, for short rows.
 */
export const softmaxKernel = (log: boolean, wg: number): Kernel => {
  const finish = log
    ? `let ls = log(s);
  for (var t = li; t < len; t += ${wg}u) { out[ob + t * inner] = x[ib + t * inner] - mx - ls; }`
    : `let inv = 1.0 / s;
  for (var t = li; t < len; t += ${wg}u) { out[ob + t * inner] = exp(x[ib + t * inner] - mx) * inv; }`
  const reduce = (v: string, isMax: boolean) => (wg === 1 ? "" : `${v} = allReduce(li, ${v}, ${isMax});`)
  const source = `${header}@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${
  wg === 1
    ? ""
    : `var<workgroup> part: array<f32, ${wg}>;
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
}
@compute @workgroup_size(${wg === 1 ? WG : wg})
fn main(@builtin(workgroup_id) wgid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) lix: u32) {
  ${wg === 1 ? `let row = (wgid.x + wgid.y * nw.x) * ${WG}u + lix;\n  let li = 0u;` : "let row = wgid.x + wgid.y * nw.x;\n  let li = lix;"}
  let live = row < p(0u);
  let len = p(1u);
  let inner = p(2u);
  let ob = (row / inner) * len * inner + row % inner;
  let ib = ob + p(3u);
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
  return { source, inputs: 1, errors: false }
}

// ---- matrix product ----

export interface MatmulTile {
  readonly bm: number
  readonly bn: number
  readonly bk: number
  readonly tm: number
  readonly tn: number
  /** Two shared buffers per operand: the next k-tile is stored while this one is multiplied (one barrier per step). */
  readonly double?: boolean
}
/** 128×128 tiles, 8×8 outputs per thread (256 threads), k-steps of 8 (measured best on an H200). */
export const BIG_TILE: MatmulTile = { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8 }
/** 128×64 and 64×128 tiles (256 threads), for products with one side under 128. */
export const TALL_TILE: MatmulTile = { bm: 128, bn: 64, bk: 8, tm: 8, tn: 4 }
export const WIDE_TILE: MatmulTile = { bm: 64, bn: 128, bk: 8, tm: 4, tn: 8 }
/** 32×32 tiles, 4×4 per thread (64 threads), for small products. */
export const SMALL_TILE: MatmulTile = { bm: 32, bn: 32, bk: 16, tm: 4, tn: 4 }

/**
 * Layout: [0] M, [1] N, [2] K, [3] batch rank, batch shape at 4, A batch strides at 8, B batch
 * strides at 12 (at most 4 batch axes), [16] A offset, [17] B offset, [18] A row stride, [19] A
 * inner stride, [20] B inner stride, [21] B column stride. Grid: x = N tiles, y = M tiles, z = batch.
 */
export const MM = { batchShape: 4, aBatch: 8, bBatch: 12, aOff: 16, bOff: 17, sAm: 18, sAk: 19, sBk: 20, sBn: 21 }
export const MAX_BATCH_RANK = 4

/**
 * Tiled product over strided views. Shared tiles are stored k-major ([k][m] and [k][n]) with rows
 * padded by 4 floats, so loads from either memory order write with at most 2-way bank conflicts and
 * the inner loop reads vec4s. A thread owns TM×TN outputs as blocks of 4 rows × 4 columns spread
 * over the tile (rows ty·4 + r + i·BM/(TM/4)), so neighbouring threads read neighbouring vec4s.
 * Global loads are unrolled with their offsets computed once, and the next k-tile is fetched into
 * registers before the current one is multiplied, so memory latency overlaps arithmetic.
 */
export const matmulKernel = (t: MatmulTile): Kernel => {
  const { bm, bn, bk, tm, tn } = t
  const wx = bn / tn
  const wy = bm / tm
  const nt = wx * wy
  const rm = tm / 4
  const rn = tn / 4
  const sa = bm + 4 // padded row (floats) of the A tile
  const sb = bn + 4
  const perA = (bm * bk) / nt
  const perB = (bk * bn) / nt
  const L: string[] = []
  const setup: string[] = []
  for (let i = 0; i < perA; i++) {
    setup.push(`  let ea${i} = li + ${i * nt}u;`)
    setup.push(`  let am${i} = select(ea${i} % ${bm}u, ea${i} / ${bk}u, aKFast);`)
    setup.push(`  let ak${i} = select(ea${i} / ${bm}u, ea${i} % ${bk}u, aKFast);`)
    setup.push(`  let aOk${i} = m0 + am${i} < M;`)
    setup.push(`  let aP${i} = aBase + (m0 + am${i}) * sAm + ak${i} * sAk;`)
    setup.push(`  let aS${i} = ak${i} * ${sa}u + am${i};`)
    setup.push(`  var ra${i} = 0.0;`)
  }
  for (let i = 0; i < perB; i++) {
    setup.push(`  let eb${i} = li + ${i * nt}u;`)
    setup.push(`  let bn${i} = select(eb${i} % ${bn}u, eb${i} / ${bk}u, bKFast);`)
    setup.push(`  let bk${i} = select(eb${i} / ${bn}u, eb${i} % ${bk}u, bKFast);`)
    setup.push(`  let bOk${i} = n0 + bn${i} < N;`)
    setup.push(`  let bP${i} = bBase + (n0 + bn${i}) * sBn + bk${i} * sBk;`)
    setup.push(`  let bS${i} = bk${i} * ${sb}u + bn${i};`)
    setup.push(`  var rb${i} = 0.0;`)
  }
  const fetch = (k0: string) => {
    const f: string[] = []
    for (let i = 0; i < perA; i++) {
      f.push(`    ra${i} = 0.0;`)
      f.push(`    if (aOk${i} && ${k0} + ak${i} < K) { ra${i} = A[aP${i} + ${k0} * sAk]; }`)
    }
    for (let i = 0; i < perB; i++) {
      f.push(`    rb${i} = 0.0;`)
      f.push(`    if (bOk${i} && ${k0} + bk${i} < K) { rb${i} = B[bP${i} + ${k0} * sBk]; }`)
    }
    return f.join("\n")
  }
  const halfA = (bk * sa) / 4 // vec4s per A buffer
  const halfB = (bk * sb) / 4
  const put = (offA: string, offB: string) => {
    const out: string[] = []
    for (let i = 0; i < perA; i++) out.push(`    As[${offA} + aS${i} / 4u][aS${i} % 4u] = ra${i};`)
    for (let i = 0; i < perB; i++) out.push(`    Bs[${offB} + bS${i} / 4u][bS${i} % 4u] = rb${i};`)
    return out.join("\n")
  }
  for (let i = 0; i < rm; i++) L.push(`      let a${i} = As[ca + (k * ${sa}u + ${i * (bm / rm)}u) / 4u + ty];`)
  for (let j = 0; j < rn; j++) L.push(`      let b${j} = Bs[cb + (k * ${sb}u + ${j * (bn / rn)}u) / 4u + tx];`)
  const decl: string[] = []
  const store: string[] = []
  for (let i = 0; i < rm; i++) {
    for (let r = 0; r < 4; r++) {
      for (let j = 0; j < rn; j++) {
        L.push(`      acc${i}_${r}_${j} = fma(vec4<f32>(a${i}[${r}]), b${j}, acc${i}_${r}_${j});`)
        decl.push(`  var acc${i}_${r}_${j} = vec4<f32>(0.0);`)
        store.push(
          `  store(m0 + ${i * (bm / rm)}u + ty * 4u + ${r}u, n0 + ${j * (bn / rn)}u + tx * 4u, acc${i}_${r}_${j}, cBase, M, N);`,
        )
      }
    }
  }
  const singleLoop = `  let ca = 0u;
  let cb = 0u;
  for (var k0 = 0u; k0 < K; k0 += ${bk}u) {
${put("0u", "0u")}
    workgroupBarrier();
    let kn = k0 + ${bk}u;
    if (kn < K) {
${fetch("kn")}
    }
    for (var k = 0u; k < ${bk}u; k++) {
${L.join("\n")}
    }
    workgroupBarrier();
  }`
  const doubleLoop = `${put("0u", "0u")}
  workgroupBarrier();
  for (var k0 = 0u; k0 < K; k0 += ${bk}u) {
    let cur = (k0 / ${bk}u) & 1u;
    let ca = cur * ${halfA}u;
    let cb = cur * ${halfB}u;
    let kn = k0 + ${bk}u;
    if (kn < K) {
${fetch("kn")}
    }
    for (var k = 0u; k < ${bk}u; k++) {
${L.join("\n")}
    }
    if (kn < K) {
${put(`(1u - cur) * ${halfA}u`, `(1u - cur) * ${halfB}u`)}
    }
    workgroupBarrier();
  }`
  const source = `${header}@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
var<workgroup> As: array<vec4<f32>, ${t.double ? 2 * halfA : halfA}>;
var<workgroup> Bs: array<vec4<f32>, ${t.double ? 2 * halfB : halfB}>;
fn store(m: u32, n: u32, v: vec4<f32>, cBase: u32, M: u32, N: u32) {
  if (m >= M) { return; }
  let r = cBase + m * N;
  if (n + 3u < N) {
    C[r + n] = v.x;
    C[r + n + 1u] = v.y;
    C[r + n + 2u] = v.z;
    C[r + n + 3u] = v.w;
    return;
  }
  if (n < N) { C[r + n] = v.x; }
  if (n + 1u < N) { C[r + n + 1u] = v.y; }
  if (n + 2u < N) { C[r + n + 2u] = v.z; }
}
@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let M = p(0u);
  let N = p(1u);
  let K = p(2u);
  var rem = wg.z;
  var aBase = p(${MM.aOff}u);
  var bBase = p(${MM.bOff}u);
  for (var a = i32(p(3u)) - 1; a >= 0; a--) {
    let d = p(${MM.batchShape}u + u32(a));
    let c = rem % d;
    rem = rem / d;
    aBase += c * p(${MM.aBatch}u + u32(a));
    bBase += c * p(${MM.bBatch}u + u32(a));
  }
  let sAm = p(${MM.sAm}u);
  let sAk = p(${MM.sAk}u);
  let sBk = p(${MM.sBk}u);
  let sBn = p(${MM.sBn}u);
  let aKFast = sAk == 1u;
  let bKFast = sBk == 1u && sBn != 1u;
  let m0 = wg.y * ${bm}u;
  let n0 = wg.x * ${bn}u;
  let tx = lid.x;
  let ty = lid.y;
  let cBase = wg.z * M * N;
${setup.join("\n")}
${decl.join("\n")}
  {
    let k0 = 0u;
${fetch("k0")}
  }
${t.double ? doubleLoop : singleLoop}
${store.join("\n")}
}
`
  return { source, inputs: 2, errors: false }
}

// ---- indexing ----

/**
 * The start of the id-indexed kernels: element i of a row of `row` values addressed by `ids`; an id
 * outside [0, p(2)) raises the step's error code p(3) (read back after the run), runs `onBad`, and
 * stops the thread.
 */
const idPrelude = (onBad: string) => `  let i = gid.x + gid.y * nw.x * ${WG}u;
  if (i >= p(0u)) { return; }
  let row = p(1u);
  let id = ids[p(5u) + i / row];
  if (id < 0 || u32(id) >= p(2u)) {
    atomicMax(&err[0], p(3u));
    atomicStore(&err[1], bitcast<u32>(id));
${onBad}    return;
  }`

/** Layout: [0] n = ids·row, [1] row, [2] table rows, [3] error code, [4] table offset, [5] ids offset. */
export const gatherKernel = (): Kernel => ({
  source: `${header}@group(0) @binding(1) var<storage, read> table: array<u32>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;
@group(0) @binding(4) var<storage, read_write> err: array<atomic<u32>, 4>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
${idPrelude("    out[i] = 0u;\n")}
  out[i] = table[p(4u) + u32(id) * row + i % row];
}
`,
  inputs: 2,
  errors: true,
})

/** Layout as gather, [4] updates offset; the output is cleared first; float adds by compare-exchange. */
export const scatterAddKernel = (): Kernel => ({
  source: `${header}@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> upd: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> err: array<atomic<u32>, 4>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
${idPrelude("")}
  let v = upd[p(4u) + i];
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
})

/** Layout: [0] n = ids·depth, [1] depth, [2] ids offset. */
export const oneHotKernel = (): Kernel => ({
  source: `${header}@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * ${WG}u;
  if (i >= p(0u)) { return; }
  let depth = p(1u);
  out[i] = select(0.0, 1.0, ids[p(2u) + i / depth] == i32(i % depth));
}
`,
  inputs: 1,
  errors: false,
})

/**
 * Layout: [0] n (output), [1] rank, output shape at 2, `before` at 2+MAXR, input shape at 2+2·MAXR,
 * input strides at 2+3·MAXR, [2+4·MAXR] input offset.
 */
export const PAD = { before: 2 + MAXR, inShape: 2 + 2 * MAXR, inStr: 2 + 3 * MAXR, off: 2 + 4 * MAXR }
export const padKernel = (): Kernel => ({
  source: `${header}@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * ${WG}u;
  if (i >= p(0u)) { return; }
  var rem = i;
  var off = p(${PAD.off}u);
  var inside = true;
  for (var a = i32(p(1u)) - 1; a >= 0; a--) {
    let d = p(2u + u32(a));
    let c = i32(rem % d) - i32(p(${PAD.before}u + u32(a)));
    rem = rem / d;
    if (c < 0 || c >= i32(p(${PAD.inShape}u + u32(a)))) { inside = false; } else { off += u32(c) * p(${PAD.inStr}u + u32(a)); }
  }
  out[i] = select(0.0, x[off], inside);
}
`,
  inputs: 1,
  errors: false,
})

// ---- expressions of the elementwise ops ----

/** Fused elementwise chains read at most this many inputs (plus the output: 7 storage buffers of the 8 guaranteed). */
export const MAX_FUSED_INPUTS = 6

/** The WGSL of one elementwise op on argument expressions (each argument appears once). */
export const elementwise = (kind: string, a: readonly string[]): string => {
  switch (kind) {
    case "neg":
      return `-(${a[0]})`
    case "exp":
      return `exp(${a[0]})`
    case "log":
      return `log(${a[0]})`
    case "tanh":
      return `tanh(clamp(${a[0]}, -15.0, 15.0))`
    case "sqrt":
      return `sqrt(${a[0]})`
    case "rsqrt":
      return `1.0 / sqrt(${a[0]})`
    case "recip":
      return `1.0 / (${a[0]})`
    case "relu":
      return `max(${a[0]}, 0.0)`
    case "add":
      return `${a[0]} + ${a[1]}`
    case "sub":
      return `${a[0]} - ${a[1]}`
    case "mul":
      return `${a[0]} * ${a[1]}`
    case "div":
      return `${a[0]} / ${a[1]}`
    case "gt":
      return `select(0.0, 1.0, ${a[0]} > ${a[1]})`
    case "eq":
      return `select(0.0, 1.0, ${a[0]} == ${a[1]})`
    case "where":
      return `select(${a[2]}, ${a[1]}, ${a[0]} != 0.0)`
    default:
      return "0.0"
  }
}
