import { checkCompile, type HostTensor, IR } from "@spot/core"
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"

describe("Backend.make's compile checks", () => {
  it("an i64 weight is narrowed exactly, once per host array, and keeps that identity across graphs", () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: -(2n ** 31n), max: 2n ** 31n - 1n }), { minLength: 1, maxLength: 8 }), (values) => {
        const n = values.length
        const w: HostTensor<"i64"> = { dtype: "i64", shape: [n], data: BigInt64Array.from(values) }
        const W = IR.input("W", [n], "i32")
        const g1 = { outputs: { y: IR.cast(W, "f32") } }
        const g2 = { outputs: { y: IR.reshape(W, [1, n]) } }
        const memo = new WeakMap()
        const a = Result.getOrThrow(checkCompile("test", g1, new Map([["W", w]]), memo)).weights.get("W")
        const b = Result.getOrThrow(checkCompile("test", g2, new Map([["W", w]]), memo)).weights.get("W")
        expect(a).toBe(b)
        expect(Array.from(a?.data ?? [])).toEqual(values.map(Number))
        // without the memo every compile narrows afresh
        const c = Result.getOrThrow(checkCompile("test", g1, new Map([["W", w]]))).weights.get("W")
        expect(c).not.toBe(a)
        // a misshapen weight is refused even when its array was narrowed before
        const bad = checkCompile("test", { outputs: { y: IR.input("W", [n + 1], "i32") } }, new Map([["W", w]]), memo)
        expect(Result.isFailure(bad) && bad.failure.message).toContain('weight "W"')
      }),
    )
  })
  it("f32 and i32 weights reach the backend as the caller's own tensors", () => {
    const f: HostTensor<"f32"> = { dtype: "f32", shape: [2], data: Float32Array.from([1, 2]) }
    const i: HostTensor<"i32"> = { dtype: "i32", shape: [2], data: Int32Array.from([3, 4]) }
    const g = { outputs: { y: IR.add(IR.input("F", [2]), IR.cast(IR.input("I", [2], "i32"), "f32")) } }
    const c = Result.getOrThrow(
      checkCompile(
        "test",
        g,
        new Map<string, HostTensor>([
          ["F", f],
          ["I", i],
        ]),
      ),
    )
    expect(c.weights.get("F")).toBe(f)
    expect(c.weights.get("I")).toBe(i)
  })
})
