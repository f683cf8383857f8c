/**
 * What every WGSL kernel generator returns: its source (which is also its pipeline cache key), its
 * bindings, and `encode`, which writes the kernel's parameters into the per-dispatch uniform block
 * exactly where its source reads them. Each parameter layout is declared once, with `layout`, and
 * both the WGSL and `encode` take their offsets from it.
 *
 * Kernels are shape-generic: every shape, stride and offset comes from the uniform block
 * (`PARAM_WORDS` u32 words), so one pipeline serves every shape and a graph of any size compiles a
 * few dozen pipelines at most.
 */

/** Largest rank a strided kernel handles (after merging contiguous axes). */
export const MAXR = 8
/** u32 words of parameters per dispatch (the uniform slot is PARAM_WORDS * 4 bytes). */
export const PARAM_WORDS = 128
/** Threads per workgroup of the elementwise and per-output kernels. */
export const WG = 256

/** A kernel as the device sees it: source and bindings. */
export interface KernelInfo {
  /** Cache key and WGSL source in one. */
  readonly source: string
  /** Storage bindings after the uniform: read-only inputs, then the output, then the error flags. */
  readonly inputs: number
  readonly errors: boolean
}

/** A kernel and the encoder of its parameters `P`. */
export interface Kernel<P> extends KernelInfo {
  /** The uniform block (`PARAM_WORDS` words) that `source` reads `params` from. */
  readonly encode: (params: P) => Uint32Array
}

/** Word offsets of named fields laid out in order (each field `words` long), and the total. */
export interface Layout<F extends string> {
  readonly at: { readonly [K in F]: number }
  readonly words: number
}

/** Lays out fields in declaration order: `layout({ count: 1, shape: MAXR })` puts `shape` at word 1. */
export const layout = <F extends string>(fields: { readonly [K in F]: number }): Layout<F> => {
  const at = {} as { [K in F]: number }
  let words = 0
  for (const k of Object.keys(fields) as F[]) {
    at[k] = words
    words += fields[k]
  }
  return { at, words }
}

/** The uniform block's declaration and its readers `p(i)` (u32) and `pf(i)` (f32 bits). */
export const header = `struct Params { v: array<vec4<u32>, ${PARAM_WORDS / 4}> }
@group(0) @binding(0) var<uniform> P: Params;
fn p(i: u32) -> u32 { return P.v[i >> 2u][i & 3u]; }
fn pf(i: u32) -> f32 { return bitcast<f32>(p(i)); }
`

/** The bits of an f32, as a parameter word. */
export const f32bits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0]

/** A zeroed parameter block. */
export const block = () => new Uint32Array(PARAM_WORDS)

export type ElemType = "f32" | "u32" | "i32"
