/** The IR's op union and node type (constructors, shape inference and graph functions are in `ir.ts`). */
import type { ShapeError } from "./errors.ts"
import type { HostTensor, Shape } from "./tensor.ts"

export type IRType = "f32" | "i32"

/**
 * `gelu` is the tanh approximation (`gelu_new` of T5 v1.1, `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`) and
 * `geluDeriv` its derivative d gelu / dx: one op each, so that a backend computes them in one pass
 * (the chains of products they replace were a fifth of a CPU training step).
 */
export type UnaryKind = "neg" | "exp" | "log" | "tanh" | "sqrt" | "rsqrt" | "recip" | "relu" | "gelu" | "geluDeriv"
export type BinaryKind = "add" | "sub" | "mul" | "div" | "gt" | "eq"

export type Op =
  | { readonly kind: "input"; readonly name: string }
  | { readonly kind: "constant"; readonly value: HostTensor<"f32" | "i32"> }
  | { readonly kind: "fill"; readonly value: number }
  | { readonly kind: UnaryKind }
  | { readonly kind: BinaryKind }
  | { readonly kind: "where" }
  | { readonly kind: "matmul" }
  | { readonly kind: "sum"; readonly axes: readonly number[]; readonly keepDims: boolean }
  | { readonly kind: "max"; readonly axes: readonly number[]; readonly keepDims: boolean }
  | { readonly kind: "softmax"; readonly axis: number }
  | { readonly kind: "logSoftmax"; readonly axis: number }
  | { readonly kind: "reshape"; readonly shape: Shape }
  | { readonly kind: "transpose"; readonly perm: readonly number[] }
  | { readonly kind: "slice"; readonly starts: readonly number[]; readonly ends: readonly number[] }
  | { readonly kind: "pad"; readonly before: readonly number[]; readonly after: readonly number[] }
  | { readonly kind: "concat"; readonly axis: number }
  | { readonly kind: "broadcast"; readonly shape: Shape }
  | { readonly kind: "gather" }
  | { readonly kind: "scatterAdd"; readonly rows: number }
  | { readonly kind: "oneHot"; readonly depth: number }
  | { readonly kind: "cast"; readonly to: IRType }

export type OpKind = Op["kind"]
export type OpOf<K extends OpKind> = Extract<Op, { readonly kind: K }>

export interface Node {
  readonly op: Op
  readonly inputs: readonly Node[]
  readonly shape: Shape
  readonly dtype: IRType
  /** Set when shape inference failed here or in an input. */
  readonly error?: ShapeError
}

/** A node whose op is known to be of kind K. */
export type NodeOf<K extends OpKind> = Node & { readonly op: OpOf<K> }

export const UNARY: readonly UnaryKind[] = ["neg", "exp", "log", "tanh", "sqrt", "rsqrt", "recip", "relu", "gelu", "geluDeriv"]

/** The constants of the tanh-approximated GELU: √(2/π) and the cubic coefficient. */
export const GELU_C = Math.sqrt(2 / Math.PI)
export const GELU_A = 0.044715
export const BINARY: readonly BinaryKind[] = ["add", "sub", "mul", "div", "gt", "eq"]
