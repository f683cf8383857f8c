/**
 * The tiled matrix product over strided (transposed, batched, broadcast) views.
 *
 * Shared tiles are stored k-major ([k][m] and [k][n]) with rows padded by 4 floats, so loads from
 * either memory order write with at most 2-way bank conflicts and the inner loop reads vec4s. A
 * thread owns TM×TN outputs as blocks of 4 rows × 4 columns spread over the tile (rows ty·4 + r +
 * i·BM/(TM/4)), so neighbouring threads read neighbouring vec4s. Global loads are unrolled with
 * their offsets computed once, and the next k-tile is fetched into registers before the current one
 * is multiplied, so memory latency overlaps arithmetic. Grid: x = N tiles, y = M tiles, z = batch.
 */
import { block, header, type Kernel, layout } from "./kernel.ts"

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

/** Batch axes a product may have after merging (more is a plan error). */
export const MAX_BATCH_RANK = 4

export interface MatmulParams {
  /** Rows of A and C (with a folded batch, all of them). */
  readonly M: number
  readonly N: number
  readonly K: number
  /** Batch shape (at most `MAX_BATCH_RANK` axes; empty when folded) and the batch strides of A and B. */
  readonly batchShape: readonly number[]
  readonly aBatch: readonly number[]
  readonly bBatch: readonly number[]
  readonly aOff: number
  readonly bOff: number
  /** A's row and inner strides, B's inner and column strides. */
  readonly sAm: number
  readonly sAk: number
  readonly sBk: number
  readonly sBn: number
}

const B = MAX_BATCH_RANK
const MM = layout({
  M: 1,
  N: 1,
  K: 1,
  batchRank: 1,
  batchShape: B,
  aBatch: B,
  bBatch: B,
  aOff: 1,
  bOff: 1,
  sAm: 1,
  sAk: 1,
  sBk: 1,
  sBn: 1,
}).at

const encode = (q: MatmulParams) => {
  const w = block()
  w[MM.M] = q.M
  w[MM.N] = q.N
  w[MM.K] = q.K
  w[MM.batchRank] = q.batchShape.length
  w.set(q.batchShape, MM.batchShape)
  w.set(q.aBatch, MM.aBatch)
  w.set(q.bBatch, MM.bBatch)
  w[MM.aOff] = q.aOff
  w[MM.bOff] = q.bOff
  w[MM.sAm] = q.sAm
  w[MM.sAk] = q.sAk
  w[MM.sBk] = q.sBk
  w[MM.sBn] = q.sBn
  return w
}

/** The tile's derived sizes: threads, padded shared rows, loads per thread, vec4s per shared buffer. */
const geometry = (t: MatmulTile) => {
  const wx = t.bn / t.tn
  const wy = t.bm / t.tm
  const nt = wx * wy
  const sa = t.bm + 4 // padded row (floats) of the A tile
  const sb = t.bn + 4
  return {
    ...t,
    wx,
    wy,
    nt,
    rm: t.tm / 4,
    rn: t.tn / 4,
    sa,
    sb,
    perA: (t.bm * t.bk) / nt,
    perB: (t.bk * t.bn) / nt,
    halfA: (t.bk * sa) / 4,
    halfB: (t.bk * sb) / 4,
  }
}
type Geometry = ReturnType<typeof geometry>

/** Per-thread global-load addresses (computed once) and their registers. */
const loadSetup = (g: Geometry) => {
  const { bm, bn, bk, nt, sa, sb } = g
  const setup: string[] = []
  for (let i = 0; i < g.perA; i++) {
    setup.push(`  let ea${i} = li + ${i * nt}u;`)
    setup.push(`  let am${i} = select(ea${i} % ${bm}u, ea${i} / ${bk}u, aKFast);`)
    setup.push(`  let ak${i} = select(ea${i} / ${bm}u, ea${i} % ${bk}u, aKFast);`)
    setup.push(`  let aOk${i} = m0 + am${i} < M;`)
    setup.push(`  let aP${i} = aBase + (m0 + am${i}) * sAm + ak${i} * sAk;`)
    setup.push(`  let aS${i} = ak${i} * ${sa}u + am${i};`)
    setup.push(`  var ra${i} = 0.0;`)
  }
  for (let i = 0; i < g.perB; i++) {
    setup.push(`  let eb${i} = li + ${i * nt}u;`)
    setup.push(`  let bn${i} = select(eb${i} % ${bn}u, eb${i} / ${bk}u, bKFast);`)
    setup.push(`  let bk${i} = select(eb${i} / ${bn}u, eb${i} % ${bk}u, bKFast);`)
    setup.push(`  let bOk${i} = n0 + bn${i} < N;`)
    setup.push(`  let bP${i} = bBase + (n0 + bn${i}) * sBn + bk${i} * sBk;`)
    setup.push(`  let bS${i} = bk${i} * ${sb}u + bn${i};`)
    setup.push(`  var rb${i} = 0.0;`)
  }
  return setup.join("\n")
}

/** Loads the k-tile at `k0` from global memory into registers. */
const fetchTile = (g: Geometry, k0: string) => {
  const f: string[] = []
  for (let i = 0; i < g.perA; i++) {
    f.push(`    ra${i} = 0.0;`)
    f.push(`    if (aOk${i} && ${k0} + ak${i} < K) { ra${i} = A[aP${i} + ${k0} * sAk]; }`)
  }
  for (let i = 0; i < g.perB; i++) {
    f.push(`    rb${i} = 0.0;`)
    f.push(`    if (bOk${i} && ${k0} + bk${i} < K) { rb${i} = B[bP${i} + ${k0} * sBk]; }`)
  }
  return f.join("\n")
}

/** Stores the registers into the shared tiles at vec4 offsets `offA`, `offB`. */
const putTile = (g: Geometry, offA: string, offB: string) => {
  const out: string[] = []
  for (let i = 0; i < g.perA; i++) out.push(`    As[${offA} + aS${i} / 4u][aS${i} % 4u] = ra${i};`)
  for (let i = 0; i < g.perB; i++) out.push(`    Bs[${offB} + bS${i} / 4u][bS${i} % 4u] = rb${i};`)
  return out.join("\n")
}

/** The accumulators, the inner product of one k step, and the stores of the results. */
const products = (g: Geometry) => {
  const { bm, bn, rm, rn, sa, sb } = g
  const inner: string[] = []
  const decl: string[] = []
  const store: string[] = []
  for (let i = 0; i < rm; i++) inner.push(`      let a${i} = As[ca + (k * ${sa}u + ${i * (bm / rm)}u) / 4u + ty];`)
  for (let j = 0; j < rn; j++) inner.push(`      let b${j} = Bs[cb + (k * ${sb}u + ${j * (bn / rn)}u) / 4u + tx];`)
  for (let i = 0; i < rm; i++) {
    for (let r = 0; r < 4; r++) {
      for (let j = 0; j < rn; j++) {
        inner.push(`      acc${i}_${r}_${j} = fma(vec4<f32>(a${i}[${r}]), b${j}, acc${i}_${r}_${j});`)
        decl.push(`  var acc${i}_${r}_${j} = vec4<f32>(0.0);`)
        store.push(
          `  store(m0 + ${i * (bm / rm)}u + ty * 4u + ${r}u, n0 + ${j * (bn / rn)}u + tx * 4u, acc${i}_${r}_${j}, cBase, M, N);`,
        )
      }
    }
  }
  return { inner: inner.join("\n"), decl: decl.join("\n"), store: store.join("\n") }
}

/** The k loop: one shared buffer per operand (two barriers a step), or two (one barrier a step). */
const kLoop = (g: Geometry, inner: string) =>
  g.double
    ? `${putTile(g, "0u", "0u")}
  workgroupBarrier();
  for (var k0 = 0u; k0 < K; k0 += ${g.bk}u) {
    let cur = (k0 / ${g.bk}u) & 1u;
    let ca = cur * ${g.halfA}u;
    let cb = cur * ${g.halfB}u;
    let kn = k0 + ${g.bk}u;
    if (kn < K) {
${fetchTile(g, "kn")}
    }
    for (var k = 0u; k < ${g.bk}u; k++) {
${inner}
    }
    if (kn < K) {
${putTile(g, `(1u - cur) * ${g.halfA}u`, `(1u - cur) * ${g.halfB}u`)}
    }
    workgroupBarrier();
  }`
    : `  let ca = 0u;
  let cb = 0u;
  for (var k0 = 0u; k0 < K; k0 += ${g.bk}u) {
${putTile(g, "0u", "0u")}
    workgroupBarrier();
    let kn = k0 + ${g.bk}u;
    if (kn < K) {
${fetchTile(g, "kn")}
    }
    for (var k = 0u; k < ${g.bk}u; k++) {
${inner}
    }
    workgroupBarrier();
  }`

/** Writes 4 consecutive outputs of a row, clipped at the matrix edge. */
const storeFn = `fn store(m: u32, n: u32, v: vec4<f32>, cBase: u32, M: u32, N: u32) {
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
}`

export const matmulKernel = (t: MatmulTile): Kernel<MatmulParams> => {
  const g = geometry(t)
  const { inner, decl, store } = products(g)
  const source = `${header}@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
var<workgroup> As: array<vec4<f32>, ${t.double ? 2 * g.halfA : g.halfA}>;
var<workgroup> Bs: array<vec4<f32>, ${t.double ? 2 * g.halfB : g.halfB}>;
${storeFn}
@compute @workgroup_size(${g.wx}, ${g.wy})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let M = p(${MM.M}u);
  let N = p(${MM.N}u);
  let K = p(${MM.K}u);
  var rem = wg.z;
  var aBase = p(${MM.aOff}u);
  var bBase = p(${MM.bOff}u);
  for (var a = i32(p(${MM.batchRank}u)) - 1; a >= 0; a--) {
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
  let m0 = wg.y * ${t.bm}u;
  let n0 = wg.x * ${t.bn}u;
  let tx = lid.x;
  let ty = lid.y;
  let cBase = wg.z * M * N;
${loadSetup(g)}
${decl}
  {
    let k0 = 0u;
${fetchTile(g, "k0")}
  }
${kLoop(g, inner)}
${store}
}
`
  return { source, inputs: 2, errors: false, encode }
}
