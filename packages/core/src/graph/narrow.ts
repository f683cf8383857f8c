/**
 * i64 → i32 narrowing with a range check. Kept apart from `tensor.ts` so that the `Tensor` namespace
 * needs no typed errors (and so no Effect Schema): a bundle that imports only `Tensor` stays small.
 */
import { Result } from "effect"
import { InputError } from "./errors.ts"
import type { HostTensor } from "./tensor.ts"

/** Integer tensor (i32 or i64) as i32, failing when a value does not fit. */
export const toI32 = (t: HostTensor, field: string): Result.Result<HostTensor<"i32">, InputError> => {
  if (t.dtype === "i32") return Result.succeed(t as HostTensor<"i32">)
  if (t.dtype === "f32") return Result.fail(new InputError({ field, message: "expected an integer tensor, got f32" }))
  const src = t.data as BigInt64Array
  const out = new Int32Array(src.length)
  for (let i = 0; i < src.length; i++) {
    const v = src[i]
    if (v > 2147483647n || v < -2147483648n) {
      return Result.fail(new InputError({ field, message: `value ${v} at index ${i} does not fit in i32` }))
    }
    out[i] = Number(v)
  }
  return Result.succeed({ dtype: "i32", shape: t.shape, data: out })
}
