/** Non-cryptographic hashing for identifiers (model fingerprints, run keys). */

/** FNV-1a over bytes, 32 bits, hex. */
export const fnv1a = (bytes: Uint8Array, seed = 0x811c9dc5): string => {
  let h = seed >>> 0
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h.toString(16).padStart(8, "0")
}
