/**
 * Host tensors: a dtype, a static shape and a flat row-major typed array.
 * i64 values (token ids in Hugging Face files) are kept as BigInt64Array on the host and narrowed
 * to i32 before they enter a graph.
 */
export type DType = "f32" | "i32" | "i64"
export type Shape = readonly number[]

export type Storage<D extends DType> = D extends "f32" ? Float32Array : D extends "i32" ? Int32Array : BigInt64Array

export interface HostTensor<D extends DType = DType> {
  readonly dtype: D
  readonly shape: Shape
  readonly data: Storage<D>
}

export const size = (shape: Shape): number => shape.reduce((a, b) => a * b, 1)

export const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i])

export const showShape = (s: Shape): string => `[${s.join(", ")}]`

export const f32 = (shape: Shape, data?: ArrayLike<number>): HostTensor<"f32"> => ({
  dtype: "f32",
  shape: [...shape],
  data: data === undefined ? new Float32Array(size(shape)) : Float32Array.from(data),
})

export const i32 = (shape: Shape, data?: ArrayLike<number>): HostTensor<"i32"> => ({
  dtype: "i32",
  shape: [...shape],
  data: data === undefined ? new Int32Array(size(shape)) : Int32Array.from(data),
})

/** Row-major strides of a shape. */
export const strides = (shape: Shape): number[] => {
  const s = new Array<number>(shape.length)
  let acc = 1
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc
    acc *= shape[i]
  }
  return s
}

/** Float view of any tensor (copies for integer tensors). */
export const toF32 = (t: HostTensor): HostTensor<"f32"> =>
  t.dtype === "f32"
    ? (t as HostTensor<"f32">)
    : { dtype: "f32", shape: t.shape, data: Float32Array.from(t.data as ArrayLike<number | bigint>, Number) }

/** Rows [start, end) of the first axis. */
export const sliceRows = <D extends DType>(t: HostTensor<D>, start: number, end: number): HostTensor<D> => {
  const row = size(t.shape.slice(1))
  return {
    dtype: t.dtype,
    shape: [end - start, ...t.shape.slice(1)],
    data: t.data.slice(start * row, end * row) as Storage<D>,
  }
}
