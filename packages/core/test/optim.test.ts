import { type HostTensor, Optim, Tensor } from "@spot/core"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { randomTensor } from "./util.ts"

const shapes = fc.constantFrom([7], [3, 4], [5, 2])
const opts = [
  ["adafactor", Optim.adafactor()],
  ["adam", Optim.adam()],
] as const

describe("optimizers are pure state transitions", () => {
  for (const [name, opt] of opts) {
    it(`${name}: does not mutate its inputs and is deterministic`, () => {
      fc.assert(
        fc.property(shapes, fc.integer({ min: 1, max: 1000 }), (s, seed) => {
          const p = randomTensor(s, seed)
          const g = randomTensor(s, seed + 1)
          const st = opt.init(p)
          const copies = [
            Float32Array.from(p.data),
            Float32Array.from(g.data),
            ...Object.values(st.slots).map((x) => Float32Array.from(x)),
          ]
          const a = opt.update(st, p, g, 0.1)
          const b = opt.update(st, p, g, 0.1)
          expect(a.param.data).toEqual(b.param.data)
          expect([p.data, g.data, ...Object.values(st.slots)]).toEqual(copies)
          expect(a.state.step).toBe(1)
        }),
      )
    })
    it(`${name}: minimises a convex quadratic`, () => {
      const target = randomTensor([4, 3], 5)
      let p: HostTensor<"f32"> = Tensor.f32([4, 3])
      let st = opt.init(p)
      const dist = (x: HostTensor<"f32">) => Math.hypot(...x.data.map((v, i) => v - target.data[i]))
      const d0 = dist(p)
      for (let i = 0; i < 300; i++) {
        const g = { ...p, data: p.data.map((v, j) => v - target.data[j]) }
        const r = opt.update(st, p, g, name === "adam" ? 0.05 : 0.05)
        p = r.param
        st = r.state
      }
      expect(dist(p)).toBeLessThan(0.1 * d0)
    })
  }
  it("adam's first step moves each coordinate by lr against the gradient's sign", () => {
    fc.assert(
      fc.property(shapes, fc.integer({ min: 1, max: 1000 }), (s, seed) => {
        const p = randomTensor(s, seed)
        const g = randomTensor(s, seed + 1)
        const r = Optim.adam().update(Optim.adam().init(p), p, g, 0.01)
        r.param.data.forEach((v, i) => {
          if (Math.abs(g.data[i]) > 1e-3) expect(v - p.data[i]).toBeCloseTo(-0.01 * Math.sign(g.data[i]), 4)
        })
      }),
    )
  })
  it("adafactor's update has RMS at most lr (clip threshold 1) plus weight decay", () => {
    fc.assert(
      fc.property(shapes, fc.integer({ min: 1, max: 1000 }), fc.double({ min: 1e-3, max: 1, noNaN: true }), (s, seed, lr) => {
        const p = randomTensor(s, seed)
        const g = randomTensor(s, seed + 1, -100, 100)
        const opt = Optim.adafactor({ weightDecay: 0 })
        const r = opt.update(opt.init(p), p, g, lr)
        const d = r.param.data.map((v, i) => v - p.data[i])
        const rms = Math.sqrt(d.reduce((a, x) => a + x * x, 0) / d.length)
        expect(rms).toBeLessThanOrEqual(lr * (1 + 1e-5) + 1e-6) // + f32 rounding of the new parameter
        const zero = opt.update(opt.init(p), p, { ...g, data: new Float32Array(g.data.length) }, lr)
        expect(zero.param.data).toEqual(p.data)
      }),
    )
  })
  it("clipping bounds the global norm and keeps directions", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.double({ min: 0.01, max: 10, noNaN: true }), (seed, max) => {
        const gs = [randomTensor([3], seed, -5, 5), randomTensor([2, 2], seed + 1, -5, 5)]
        const { grads, norm } = Optim.clipByGlobalNorm(gs, max)
        const after = Math.hypot(...grads.flatMap((g) => [...g.data]))
        expect(after).toBeLessThanOrEqual(Math.max(max, 0) * (1 + 1e-5) + (norm <= max ? norm : 0))
        if (norm > max) expect(after).toBeCloseTo(max, 4)
      }),
    )
  })
  it("schedules: warmup reaches lr, cosine decays to zero", () => {
    expect(Optim.lrAt({ kind: "linear", lr: 1, warmup: 10, total: 100 }, 10)).toBeCloseTo(1)
    expect(Optim.lrAt({ kind: "linear", lr: 1, warmup: 10, total: 100 }, 100)).toBeCloseTo(0)
    expect(Optim.lrAt({ kind: "cosine", lr: 2, warmup: 0, total: 50 }, 50)).toBeCloseTo(0)
    expect(Optim.lrAt({ kind: "constant", lr: 0.3 }, 12345)).toBe(0.3)
    expect(Optim.lrAt({ kind: "inverse-sqrt", lr: 1, warmup: 100 }, 400)).toBeCloseTo(0.5)
  })
})
