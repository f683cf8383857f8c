/**
 * How the `spot` command ends: one line on stderr for every failure (typed errors, defects and
 * interruptions alike) and an exit code by class — 2 usage, 3 input, 1 runtime, 130 interrupted.
 * `--verbose` (or `SPOT_VERBOSE=1`) adds the cause chain.
 */
import { Cause, Exit } from "effect"
import { describeError } from "./output.ts"

export const EXIT = { ok: 0, runtime: 1, usage: 2, input: 3, interrupted: 130 } as const

const USAGE = new Set([
  "UsageError",
  "ShowHelp",
  "UnrecognizedOption",
  "DuplicateOption",
  "MissingOption",
  "MissingArgument",
  "UnexpectedArgument",
  "InvalidValue",
  "UnknownSubcommand",
  "ValidationError",
])
const INPUT = new Set([
  "InputError",
  "ConfigError",
  "CheckpointError",
  "DataError",
  "SafetensorsError",
  "ShapeError",
  "LibraryError",
  "StudyError",
  // a tokenizer that does not fit the model, a Hub id not in the cache, library entries of another recipe
  "TokenizerMismatch",
  "HubError",
  "RecipeMismatch",
])

const tagOf = (e: unknown): string | undefined =>
  typeof e === "object" && e !== null && "_tag" in e ? String((e as { _tag: unknown })._tag) : undefined

/** The exit code of a failed run. */
export const exitCodeOf = (cause: Cause.Cause<unknown>): number => {
  if (Cause.hasInterruptsOnly(cause)) return EXIT.interrupted
  const fail = cause.reasons.find(Cause.isFailReason)
  if (!fail) return EXIT.runtime // a defect
  const tag = tagOf(fail.error)
  if (tag && USAGE.has(tag)) return EXIT.usage
  if (tag === "PlatformError") {
    const reason = tagOf((fail.error as { reason?: unknown }).reason)
    return reason === "NotFound" || reason === "BadResource" ? EXIT.input : EXIT.runtime
  }
  if (tag && INPUT.has(tag)) return EXIT.input
  return EXIT.runtime
}

/** The effect/cli help-with-errors value: its first parse error is the usage line. */
const showHelpLine = (e: unknown): string | undefined => {
  if (tagOf(e) !== "ShowHelp") return undefined
  const errors = (e as { errors?: ReadonlyArray<unknown> }).errors ?? []
  if (errors.length === 0) return "usage: no command given (see --help)"
  return `usage: ${errors.map((x) => describeError(x)).join("; ")}`
}

const chain = (e: unknown): string[] => {
  const out: string[] = []
  let c: unknown = e
  for (let depth = 0; depth < 8 && typeof c === "object" && c !== null; depth++) {
    const next = (c as { cause?: unknown }).cause
    if (next === undefined || next === c) break
    out.push(next instanceof Error ? `${next.name}: ${next.message}` : describeError(next))
    c = next
  }
  return out
}

/** The one line (and with `verbose` the cause chain) printed for a failed run; undefined for success. */
export const failureLines = (exit: Exit.Exit<unknown, unknown>, verbose: boolean): string[] => {
  if (Exit.isSuccess(exit)) return []
  const cause = exit.cause
  if (Cause.hasInterruptsOnly(cause)) return ["error: interrupted"]
  const fail = cause.reasons.find(Cause.isFailReason)
  const die = cause.reasons.find(Cause.isDieReason)
  const value: unknown = fail ? fail.error : die?.defect
  const head = fail
    ? (showHelpLine(value) ?? describeError(value))
    : `internal error (a defect, please report it): ${value instanceof Error ? `${value.name}: ${value.message}` : describeError(value)}`
  const line = `error: ${head.replace(/\s*\n\s*/g, " ")}`
  if (!verbose) return [line]
  const extra = chain(value).map((x) => `  caused by: ${x}`)
  const stack = value instanceof Error && value.stack ? value.stack.split("\n").slice(1, 12) : []
  return [
    line,
    ...extra,
    ...stack,
    ...Cause.pretty(cause)
      .split("\n")
      .map((x) => `  | ${x}`),
  ]
}
