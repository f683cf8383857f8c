import type { BufferDecl, Step } from "./types.ts"

/**
 * Assigns temporaries to reusable slots: a slot is taken at a buffer's first write and given back
 * after its last read (graph outputs are never given back). A step's output never shares a slot
 * with one of its own inputs, since the output is placed before the inputs are released.
 */
export const pool = (buffers: readonly BufferDecl[], steps: readonly Step[], pinned: ReadonlySet<number>) => {
  const lastRead = new Array<number>(buffers.length).fill(-1)
  steps.forEach((s, i) => {
    for (const b of s.reads) lastRead[b] = i
  })
  const slotOf = new Array<number>(buffers.length).fill(-1)
  const slotBytes: number[] = []
  const free: number[] = []
  const release = (b: number) => {
    if (buffers[b].role.kind === "temp" && !pinned.has(b) && slotOf[b] >= 0) free.push(slotOf[b])
  }
  steps.forEach((s, i) => {
    const b = s.write
    if (buffers[b].role.kind === "temp" && slotOf[b] < 0) {
      const need = buffers[b].bytes
      let best = -1
      for (let f = 0; f < free.length; f++) {
        const size = slotBytes[free[f]]
        if (size >= need && size <= 4 * need && (best < 0 || size < slotBytes[free[best]])) best = f
      }
      if (best >= 0) {
        slotOf[b] = free[best]
        free.splice(best, 1)
      } else {
        slotOf[b] = slotBytes.length
        slotBytes.push(need)
      }
      if (lastRead[b] < i) release(b) // written but never read again (not an output): free at once
    }
    for (const r of new Set(s.reads)) if (lastRead[r] === i) release(r)
  })
  return { slotOf, slotBytes }
}
