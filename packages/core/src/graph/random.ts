/**
 * Seeded, counter-based random numbers: value i of stream (seed, key) depends only on those three
 * numbers, so a run can be resumed or split across workers and draw exactly the same values.
 */

/** 32-bit mix (murmur3 finaliser). */
const mix = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** Uniform in [0, 1) for counter `i` of stream (seed, key). */
export const uniformAt = (seed: number, key: number, i: number): number =>
  mix(mix(mix(seed ^ 0x9e3779b9) ^ Math.imul(key + 1, 0x27d4eb2f)) ^ Math.imul(i + 1, 0x165667b1)) / 4294967296

/** Stream hash for a string key. */
export const keyOf = (s: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/** `n` uniforms in [lo, hi). */
export const uniform = (seed: number, key: number, n: number, lo = 0, hi = 1): Float32Array => {
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * uniformAt(seed, key, i)
  return out
}

/** `n` standard normals (Box-Muller over counter pairs). */
export const normal = (seed: number, key: number, n: number, std = 1): Float32Array => {
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    const u1 = Math.max(uniformAt(seed, key, 2 * i), 1e-12)
    const u2 = uniformAt(seed, key, 2 * i + 1)
    out[i] = std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)
  }
  return out
}
