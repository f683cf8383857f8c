/**
 * The strided map kernel — out[view] = f(in_1[view_1], …, in_n[view_n]) — that computes every
 * elementwise op (fused chains included), copies, casts and fills; and the WGSL of each
 * elementwise op.
 */
import { IR } from "@spot/core/graph"
import { block, type ElemType, f32bits, header, type Kernel, layout, MAXR, WG } from "./kernel.ts"

export interface MapParams {
  /** Elements of the output. */
  readonly count: number
  /** The iteration shape after merging axes (at most `MAXR` axes). */
  readonly shape: readonly number[]
  /** Strides over `shape` of the output, then of each input. */
  readonly strides: readonly (readonly number[])[]
  /** Offsets of the output, then of each input. */
  readonly offsets: readonly number[]
  /** The scalar argument `s` (a fill value); 0 when absent. */
  readonly scalar?: number
}

/** With `n` inputs: operand j (0 = output) has strides at `strides + j·MAXR` and its offset at `offsets + j`. */
const mapLayout = (n: number) => layout({ count: 1, rank: 1, shape: MAXR, strides: MAXR * (n + 1), offsets: n + 1, scalar: 1 })

/** `expr` reads its inputs as `x0`, `x1`, …, the scalar parameter as `s`, and what `body` defines. */
export const mapKernel = (inTypes: readonly ElemType[], outType: ElemType, expr: string, body = ""): Kernel<MapParams> => {
  const n = inTypes.length
  const L = mapLayout(n)
  const bindings = [
    ...inTypes.map((t, j) => `@group(0) @binding(${j + 1}) var<storage, read> in${j}: array<${t}>;`),
    `@group(0) @binding(${n + 1}) var<storage, read_write> out: array<${outType}>;`,
  ].join("\n")
  const offs = Array.from({ length: n + 1 }, (_, j) => `  var o${j} = p(${L.at.offsets + j}u);`).join("\n")
  const acc = Array.from({ length: n + 1 }, (_, j) => `    o${j} += c * p(${L.at.strides + MAXR * j}u + u32(a));`).join("\n")
  const reads = inTypes.map((_, j) => `  let x${j} = in${j}[o${j + 1}];`).join("\n")
  const source = `${header}${bindings}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * ${WG}u;
  if (i >= p(${L.at.count}u)) { return; }
  let s = pf(${L.at.scalar}u);
${offs}
  var rem = i;
  for (var a = i32(p(${L.at.rank}u)) - 1; a >= 0; a--) {
    let d = p(${L.at.shape}u + u32(a));
    let c = rem % d;
    rem = rem / d;
${acc}
  }
${reads}
${body}  out[o0] = ${expr};
}
`
  const encode = (q: MapParams) => {
    const w = block()
    w[L.at.count] = q.count
    w[L.at.rank] = q.shape.length
    w.set(q.shape, L.at.shape)
    q.strides.forEach((s, j) => {
      w.set(s, L.at.strides + MAXR * j)
    })
    w.set(q.offsets, L.at.offsets)
    w[L.at.scalar] = f32bits(q.scalar ?? 0)
    return w
  }
  return { source, inputs: n, errors: false, encode }
}

/** Fused elementwise chains read at most this many inputs (plus the output: 7 storage buffers of the 8 guaranteed). */
export const MAX_FUSED_INPUTS = 6

export type ElementwiseKind = IR.UnaryKind | IR.BinaryKind | "where"

/** WGSL f32 literal of a constant. */
const lit = (v: number) => (Number.isInteger(v) ? `${v}.0` : `${v}`)
const GELU_C = lit(IR.GELU_C)
const GELU_A = lit(IR.GELU_A)
/** tanh of GELU's inner polynomial at `x` (clamped like `tanh`). */
const tanhOf = (x: string) => `tanh(clamp(${GELU_C} * (${x} + ${GELU_A} * ${x} * ${x} * ${x}), -15.0, 15.0))`

/**
 * The WGSL of each elementwise op on argument expressions. The fused kernels pass names (`x0`, `t3`),
 * so an argument may appear more than once (the GELU entries read theirs several times).
 */
export const ELEMENTWISE_WGSL: { readonly [K in ElementwiseKind]: (a: readonly string[]) => string } = {
  neg: (a) => `-(${a[0]})`,
  exp: (a) => `exp(${a[0]})`,
  log: (a) => `log(${a[0]})`,
  // SwiftShader's tanh is NaN for |x| ≥ 89; tanh is ±1 in f32 well before 15
  tanh: (a) => `tanh(clamp(${a[0]}, -15.0, 15.0))`,
  sqrt: (a) => `sqrt(${a[0]})`,
  rsqrt: (a) => `1.0 / sqrt(${a[0]})`,
  recip: (a) => `1.0 / (${a[0]})`,
  relu: (a) => `max(${a[0]}, 0.0)`,
  gelu: (a) => `0.5 * (${a[0]}) * (1.0 + ${tanhOf(`(${a[0]})`)})`,
  geluDeriv: (a) => {
    const x = `(${a[0]})`
    const t = tanhOf(x)
    return `0.5 * (1.0 + ${t}) + 0.5 * ${x} * (1.0 - ${t} * ${t}) * ${GELU_C} * (1.0 + ${lit(3 * IR.GELU_A)} * ${x} * ${x})`
  },
  add: (a) => `${a[0]} + ${a[1]}`,
  sub: (a) => `${a[0]} - ${a[1]}`,
  mul: (a) => `${a[0]} * ${a[1]}`,
  div: (a) => `${a[0]} / ${a[1]}`,
  gt: (a) => `select(0.0, 1.0, ${a[0]} > ${a[1]})`,
  eq: (a) => `select(0.0, 1.0, ${a[0]} == ${a[1]})`,
  where: (a) => `select(${a[2]}, ${a[1]}, ${a[0]} != 0.0)`,
}
