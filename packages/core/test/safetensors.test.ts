import { Safetensors, Tensor } from "@spot/core"
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"

const enc = (header: unknown, body = new Uint8Array()) => {
  const json = new TextEncoder().encode(JSON.stringify(header))
  const out = new Uint8Array(8 + json.length + body.length)
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
  out.set(json, 8)
  out.set(body, 8 + json.length)
  return out
}
const failure = (bytes: Uint8Array) => {
  const r = Safetensors.decodeSafetensors(bytes, "x.safetensors")
  if (Result.isSuccess(r)) throw new Error("expected a failure")
  expect(r.failure._tag).toBe("SafetensorsError")
  expect(r.failure.file).toBe("x.safetensors")
  return r.failure
}

describe("safetensors", () => {
  it("round-trips f32, i32 and i64 tensors with metadata", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("f32", "i32", "i64"), fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 })), {
          minLength: 1,
          maxLength: 5,
        }),
        fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
        (specs, metadata) => {
          const tensors = new Map<string, Tensor.HostTensor>()
          specs.forEach(([dtype, shape], i) => {
            const n = Tensor.size(shape)
            const data =
              dtype === "f32"
                ? Float32Array.from({ length: n }, (_, j) => j * 0.5 - i)
                : dtype === "i32"
                  ? Int32Array.from({ length: n }, (_, j) => j - 7)
                  : BigInt64Array.from({ length: n }, (_, j) => BigInt(j) * 3000000000n)
            tensors.set(`t${i}`, { dtype, shape, data } as Tensor.HostTensor)
          })
          const bytes = Safetensors.encodeSafetensors(tensors, metadata)
          const back = Result.getOrThrow(Safetensors.decodeSafetensors(bytes))
          expect(back.metadata).toEqual(metadata)
          for (const [k, t] of tensors) {
            expect(back.tensors.get(k)?.shape).toEqual(t.shape)
            expect(Array.from(back.tensors.get(k)?.data as ArrayLike<unknown>)).toEqual(Array.from(t.data as ArrayLike<unknown>))
          }
        },
      ),
      { numRuns: 100 },
    )
  })

  it("widens F16 and BF16 to f32", () => {
    // 1.0, -2.0, 0.5 in f16: 0x3c00, 0xc000, 0x3800; in bf16: 0x3f80, 0xc000, 0x3f00
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3800]).buffer)
    const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc000, 0x3f00]).buffer)
    const body = new Uint8Array([...f16, ...bf16])
    const bytes = enc(
      { a: { dtype: "F16", shape: [3], data_offsets: [0, 6] }, b: { dtype: "BF16", shape: [3], data_offsets: [6, 12] } },
      body,
    )
    const r = Result.getOrThrow(Safetensors.decodeSafetensors(bytes))
    expect(Array.from(r.tensors.get("a")?.data as Float32Array)).toEqual([1, -2, 0.5])
    expect(Array.from(r.tensors.get("b")?.data as Float32Array)).toEqual([1, -2, 0.5])
    expect(r.tensors.get("a")?.dtype).toBe("f32")
  })

  it("names the field of each header defect", () => {
    expect(failure(new Uint8Array(3)).field).toBe("header_length")
    const huge = new Uint8Array(16)
    new DataView(huge.buffer).setBigUint64(0, 2n ** 40n, true)
    expect(failure(huge).message).toContain("cap")
    const past = new Uint8Array(16)
    new DataView(past.buffer).setBigUint64(0, 100n, true)
    expect(failure(past).message).toContain("past the end")
    expect(failure(enc([1, 2])).field).toBe("header")
    const notJson = enc({})
    notJson[8] = 0x7b + 1
    expect(failure(notJson).field).toBe("header")
    expect(failure(enc({ w: { dtype: "Q4", shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4))).field).toBe("w.dtype")
    expect(failure(enc({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4))).field).toBe("w.shape")
    expect(failure(enc({ w: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4))).field).toBe("w.shape")
    expect(failure(enc({ w: { dtype: "F32", shape: [1], data_offsets: [0, 8] } }, new Uint8Array(4))).field).toBe(
      "w.data_offsets",
    )
    expect(failure(enc({ w: { dtype: "F32", shape: [1], data_offsets: [4, 0] } }, new Uint8Array(4))).field).toBe(
      "w.data_offsets",
    )
    const overlap = enc(
      { a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [1], data_offsets: [4, 8] } },
      new Uint8Array(8),
    )
    expect(failure(overlap).message).toContain("overlaps")
    const hole = enc({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8))
    expect(failure(hole).message).toContain("hole")
    expect(failure(enc({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, new Uint8Array(8))).message).toContain(
      "trailing",
    )
    expect(failure(enc({ __metadata__: { a: 1 } })).field).toBe("__metadata__.a")
  })

  it("never throws on random or mutated bytes (fuzz)", () => {
    const valid = Safetensors.encodeSafetensors(
      { a: Tensor.f32([2, 3], [1, 2, 3, 4, 5, 6]), b: Tensor.i32([2], [7, 8]) },
      { k: "v" },
    )
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc
            .array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 })
            .map((edits) => {
              const b = Uint8Array.from(valid)
              for (const [i, v] of edits) b[i] = v
              return b
            }),
          fc.nat(valid.length).map((n) => valid.slice(0, n)),
        ),
        (bytes) => {
          const r = Safetensors.decodeSafetensors(bytes, "fuzz.safetensors")
          if (Result.isFailure(r)) {
            expect(r.failure._tag).toBe("SafetensorsError")
            expect(r.failure.file).toBe("fuzz.safetensors")
            expect(r.failure.field.length).toBeGreaterThan(0)
          } else {
            for (const t of r.success.tensors.values()) expect(t.data.length).toBe(Tensor.size(t.shape))
          }
        },
      ),
      { numRuns: 1000 },
    )
  })
})
