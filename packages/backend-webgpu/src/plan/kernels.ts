/**
 * The kernels a plan dispatches, built once per process (their sources are the pipeline cache
 * keys), the matmul tilings and when each applies, and the reduction thresholds.
 */
import { gatherKernel, oneHotKernel, padKernel, scatterAddKernel } from "../kernels/indexing.ts"
import type { Kernel } from "../kernels/kernel.ts"
import { mapKernel } from "../kernels/map.ts"
import {
  BIG_TILE,
  type MatmulParams,
  type MatmulTile,
  matmulKernel,
  SMALL_TILE,
  TALL_TILE,
  WIDE_TILE,
} from "../kernels/matmul.ts"
import { reduceGroupKernel, reduceThreadKernel, softmaxKernel } from "../kernels/reduce.ts"

export const KERNELS = {
  copy: mapKernel(["u32"], "u32", "x0"),
  fill: mapKernel([], "f32", "s"),
  f2i: mapKernel(["f32"], "i32", "i32(x0)"),
  i2f: mapKernel(["i32"], "f32", "f32(x0)"),
  sumThread: reduceThreadKernel("sum"),
  maxThread: reduceThreadKernel("max"),
  sumGroup: { 64: reduceGroupKernel("sum", 64), 256: reduceGroupKernel("sum", 256) },
  maxGroup: { 64: reduceGroupKernel("max", 64), 256: reduceGroupKernel("max", 256) },
  softmax: { 1: softmaxKernel(false, 1), 64: softmaxKernel(false, 64), 256: softmaxKernel(false, 256) },
  logSoftmax: { 1: softmaxKernel(true, 1), 64: softmaxKernel(true, 64), 256: softmaxKernel(true, 256) },
  gather: gatherKernel(),
  scatterAdd: scatterAddKernel(),
  oneHot: oneHotKernel(),
  pad: padKernel(),
}

/** Reductions (and softmax rows) this long use a workgroup per output; 256 threads from `WIDE_FROM`. */
export const GROUP_REDUCE_FROM = 64
export const WIDE_FROM = 4096

/** Matmul tilings, tried in this order: the first whose tile fits inside the output is used. */
export interface Tiles {
  readonly big: MatmulTile
  readonly tall: MatmulTile
  readonly wide: MatmulTile
  readonly small: MatmulTile
}
export const DEFAULT_TILES: Tiles = { big: BIG_TILE, tall: TALL_TILE, wide: WIDE_TILE, small: SMALL_TILE }

export const pickTile = (t: Tiles, rows: number, cols: number) =>
  [t.big, t.tall, t.wide].find((x) => rows >= x.bm && cols >= x.bn) ?? t.small

const matmulKernels = new Map<string, Kernel<MatmulParams>>()
/** The matmul kernel of a tiling (one per tiling per process). */
export const tiledMatmul = (t: MatmulTile) => {
  const key = JSON.stringify(t)
  let k = matmulKernels.get(key)
  if (!k) {
    k = matmulKernel(t)
    matmulKernels.set(key, k)
  }
  return k
}
