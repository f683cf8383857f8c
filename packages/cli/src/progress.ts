/** The CLI's Progress layer: a progress bar on stderr, or JSON lines on stdout with `--json`. */
import { Progress, type ProgressEvent } from "@spot/core"
import { Effect, Layer } from "effect"

const bar = (done: number, total: number, width = 24) => {
  const n = Math.round((done / Math.max(1, total)) * width)
  return `[${"#".repeat(n)}${"-".repeat(width - n)}]`
}
const fmtTime = (ms: number) => {
  const s = Math.round(ms / 1000)
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`
}

export const progressLayer = (json: boolean) =>
  Layer.succeed(Progress, {
    report: (e: ProgressEvent) =>
      Effect.sync(() => {
        if (json) {
          process.stdout.write(`${JSON.stringify({ event: e.kind, ...e, kind: undefined })}\n`)
          return
        }
        const tty = process.stderr.isTTY
        switch (e.kind) {
          case "step": {
            const eta = (e.elapsedMs / e.step) * (e.total - e.step)
            const line = `${bar(e.step, e.total)} step ${e.step}/${e.total} loss ${e.loss.toFixed(4)} lr ${e.lr.toPrecision(3)} eta ${fmtTime(eta)}`
            if (tty) process.stderr.write(`\r${line}\x1b[K`)
            else if (e.step === e.total || e.step % Math.max(1, Math.floor(e.total / 20)) === 0) process.stderr.write(`${line}\n`)
            break
          }
          case "eval":
            process.stderr.write(
              `${tty ? "\n" : ""}  eval at step ${e.step}: ${e.score.toFixed(4)} (best ${e.best.toFixed(4)} at step ${e.bestStep})\n`,
            )
            break
          case "checkpoint":
            break
          case "resume":
            process.stderr.write(`resuming from step ${e.step}\n`)
            break
          case "info":
            process.stderr.write(`${e.message}\n`)
            break
        }
      }),
  })
