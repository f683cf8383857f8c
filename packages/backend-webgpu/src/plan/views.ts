/** Strided views: row-major strides, broadcasting, contiguity, and merging axes. */
import { Tensor } from "@spot/core/graph"
import type { View } from "./types.ts"

export const rowMajor = (shape: readonly number[]) => Tensor.strides(shape)

/** A contiguous view of `shape` at `offset` in `buf`. */
export const contiguousView = (shape: readonly number[], buf: number, offset = 0): View => ({
  buf,
  shape,
  strides: rowMajor(shape),
  offset,
})

/** Merges adjacent axes that every operand walks contiguously; drops size-1 axes. */
export const collapse = (
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): { shape: number[]; strides: number[][] } => {
  const keep = shape.map((d, i) => (d === 1 ? -1 : i)).filter((i) => i >= 0)
  const outShape: number[] = []
  const outStr: number[][] = strides.map(() => [])
  for (const a of keep) {
    const last = outShape.length - 1
    if (last >= 0 && strides.every((s, j) => outStr[j][last] === s[a] * shape[a])) {
      outShape[last] *= shape[a]
      strides.forEach((s, j) => {
        outStr[j][last] = s[a]
      })
    } else {
      outShape.push(shape[a])
      strides.forEach((s, j) => {
        outStr[j].push(s[a])
      })
    }
  }
  return { shape: outShape, strides: outStr }
}

/** The strides that read `v` broadcast to `shape` (trailing axes aligned). */
export const broadcastStrides = (v: Pick<View, "shape" | "strides">, shape: readonly number[]): number[] => {
  const lead = shape.length - v.shape.length
  return shape.map((d, i) => {
    const j = i - lead
    if (j < 0) return 0
    return v.shape[j] === 1 && d !== 1 ? 0 : v.strides[j]
  })
}

export const isContiguous = (v: View) => {
  const want = rowMajor(v.shape)
  return v.shape.every((d, i) => d === 1 || v.strides[i] === want[i])
}
