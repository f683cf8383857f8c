/**
 * The hostile-input table's harness: each case runs the built CLI once and is judged on its exit
 * code, its one-line error (regex), and the files it must leave unchanged (hashed before and after).
 * With `SPOT_CLI=<other main.js>` (e.g. the pre-session build) the cases are only classified, not
 * asserted, and the counts by outcome are printed — the "before" column of the closing report.
 */
import { execFile } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { CLI, ROOT } from "./helpers.ts"

export const TARGET_CLI = process.env.SPOT_CLI ?? CLI
export const BASELINE = process.env.SPOT_CLI !== undefined

export interface Case {
  readonly name: string
  readonly args: () => string[]
  /** Expected exit code. */
  readonly code: number
  /** The error line (or stdout for code 0) must match. */
  readonly message?: RegExp
  /** Files/folders that must be byte-identical (and exist or not) after the run. */
  readonly unchanged?: () => string[]
  /** Extra check on the result; returns a failure description or undefined. */
  readonly check?: (r: Run) => string | undefined
  readonly timeoutMs?: number
}

export interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
  readonly timedOut: boolean
}

export const run = (args: string[], timeoutMs = 60_000) =>
  new Promise<Run>((resolve) => {
    const t0 = Date.now()
    execFile("node", [TARGET_CLI, ...args], { cwd: ROOT, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; killed?: boolean; signal?: string }) | null
      const code = e ? (typeof e.code === "number" ? e.code : 1) : 0
      resolve({ code, stdout, stderr, ms: Date.now() - t0, timedOut: Boolean(e?.killed || e?.signal === "SIGTERM") })
    })
  })

/** sha256 of every file under each path (or "absent"), as one string. */
export const snapshot = (paths: readonly string[]): string => {
  const h = createHash("sha256")
  const walk = (p: string) => {
    if (!existsSync(p)) {
      h.update(`absent ${p}\n`)
      return
    }
    const st = statSync(p)
    if (st.isDirectory()) {
      h.update(`dir ${p}\n`)
      for (const n of readdirSync(p).sort()) walk(join(p, n))
    } else h.update(`file ${p} ${createHash("sha256").update(readFileSync(p)).digest("hex")}\n`)
  }
  for (const p of paths) walk(p)
  return h.digest("hex")
}

export type Outcome =
  | "ok"
  | "silent exit"
  | "exit 0 on bad input"
  | "hang (timeout)"
  | "crash/defect"
  | "wrong exit code"
  | "unclear message"
  | "files changed"
  | "check failed"

/** Runs one case and classifies it. */
export const judge = async (c: Case): Promise<{ outcome: Outcome; detail: string }> => {
  const args = c.args() // may write the case's input files, so before the snapshot
  const watched = c.unchanged?.() ?? []
  const before = snapshot(watched)
  const r = await run(args, c.timeoutMs ?? 180_000)
  const errLines = r.stderr.split("\n").filter((l) => l.startsWith("error:"))
  const detail = `code ${r.code} in ${r.ms} ms; stderr: ${r.stderr.trim().split("\n").slice(-3).join(" | ").slice(0, 400)}`
  if (r.timedOut) return { outcome: "hang (timeout)", detail }
  if (c.code !== 0 && r.code === 0) return { outcome: "exit 0 on bad input", detail }
  if (r.code !== 0 && r.stderr.trim() === "") return { outcome: "silent exit", detail }
  if (
    /internal error|RangeError|TypeError/.test(errLines[0] ?? "") ||
    /heap out of memory|Maximum call stack/.test(r.stderr) ||
    (errLines.length === 0 && /\n\s+at .*:\d+/.test(r.stderr))
  )
    return { outcome: "crash/defect", detail }
  if (r.code !== c.code) return { outcome: "wrong exit code", detail }
  if (c.code !== 0 && errLines.length !== 1) return { outcome: "unclear message", detail }
  if (c.message && !c.message.test(c.code === 0 ? r.stdout + r.stderr : (errLines[0] ?? ""))) {
    return { outcome: "unclear message", detail }
  }
  if (watched.length > 0 && snapshot(watched) !== before) return { outcome: "files changed", detail }
  const extra = c.check?.(r)
  if (extra) return { outcome: "check failed", detail: `${extra}; ${detail}` }
  return { outcome: "ok", detail }
}

/** Runs cases `width` at a time (each is a separate process). */
export const judgeAll = async (cases: readonly Case[], width = 3) => {
  const out: Array<{ name: string; outcome: Outcome; detail: string }> = new Array(cases.length)
  let next = 0
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let i = next++; i < cases.length; i = next++) out[i] = { name: cases[i].name, ...(await judge(cases[i])) }
    }),
  )
  return out
}

export const tally = (results: ReadonlyArray<{ outcome: Outcome }>) => {
  const counts: Record<string, number> = {}
  for (const r of results) counts[r.outcome] = (counts[r.outcome] ?? 0) + 1
  return counts
}
