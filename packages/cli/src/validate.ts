/**
 * Flag checks that run before any work (loading a model, training): a bad value is a `UsageError`
 * naming the flag (exit code 2); an output path whose folder is missing, or that is one of the
 * command's inputs, is refused before anything is computed or written.
 */
import { existsSync, realpathSync, statSync } from "node:fs"
import { dirname, resolve, sep } from "node:path"
import { Effect } from "effect"
import { UsageError } from "./errors.ts"

const usage = (field: string, message: string) => new UsageError({ field, message })

/** Integer flags with inclusive bounds: `[flag, value, min, max]`. */
export const checkInts = (checks: ReadonlyArray<readonly [string, number, number, number]>) =>
  Effect.gen(function* () {
    for (const [flag, v, min, max] of checks) {
      if (!Number.isSafeInteger(v) || v < min || v > max)
        return yield* usage(flag, `must be an integer in [${min}, ${max}], got ${v}`)
    }
  })

/** The integer flags of a tuning run that `train`, `tune-model` and `transfer` share, with their bounds (for `checkInts`). */
export const tuningIntChecks = (f: {
  steps: number
  batch: number
  evalEvery: number
  maxSource: number
  maxTarget: number
}): ReadonlyArray<readonly [string, number, number, number]> => [
  ["--steps", f.steps, 1, 100_000_000],
  ["--batch", f.batch, 1, 65_536],
  ["--eval-every", f.evalEvery, 1, 100_000_000],
  ["--max-source", f.maxSource, 1, 65_536],
  ["--max-target", f.maxTarget, 1, 8_192],
]

/** Number flags: `[flag, value, min, minExclusive]` (max: finite). */
export const checkNumbers = (checks: ReadonlyArray<readonly [string, number, number, boolean]>) =>
  Effect.gen(function* () {
    for (const [flag, v, min, exclusive] of checks) {
      if (!Number.isFinite(v) || v < min || (exclusive && v === min))
        return yield* usage(flag, `must be a finite number ${exclusive ? ">" : "≥"} ${min}, got ${v}`)
    }
  })

const real = (p: string) => {
  try {
    return realpathSync(p)
  } catch {
    return resolve(p)
  }
}

/** An output folder (created when missing) must not be an existing file. */
export const checkOutDir = (flag: string, dir: string) =>
  Effect.gen(function* () {
    if (dir === "") return yield* usage(flag, "is empty")
    if (existsSync(dir) && !statSync(dir).isDirectory()) return yield* usage(flag, `${dir} is a file, not a folder`)
  })

/**
 * An output file: its folder must exist, it must not be a folder, and it must not be (or be inside,
 * for folders in `protectedDirs`) any input.
 */
export const checkOutFile = (flag: string, out: string, inputs: readonly string[], protectedDirs: readonly string[] = []) =>
  Effect.gen(function* () {
    if (out === "") return yield* usage(flag, "is empty")
    const dir = dirname(resolve(out))
    if (!existsSync(dir) || !statSync(dir).isDirectory()) return yield* usage(flag, `the folder ${dir} of ${out} does not exist`)
    if (existsSync(out) && statSync(out).isDirectory()) return yield* usage(flag, `${out} is a folder, not a file`)
    const target = real(out)
    for (const input of inputs.filter((x) => x !== "")) {
      if (real(input) === target) return yield* usage(flag, `${out} is also an input (${input}); refusing to overwrite it`)
    }
    for (const d of protectedDirs.filter((x) => x !== "")) {
      const base = real(d)
      if (target === base || target.startsWith(base + sep))
        return yield* usage(flag, `${out} is inside ${d}; refusing to write into it`)
    }
  })
