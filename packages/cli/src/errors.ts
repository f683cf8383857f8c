import { Schema } from "effect"

export class ParityFailed extends Schema.TaggedError<ParityFailed>()("ParityFailed", {
  fixture: Schema.String,
  message: Schema.String,
}) {}

/** A flag or argument with a value the command cannot use (checked before any work starts): exit code 2. */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  field: Schema.String,
  message: Schema.String,
}) {}
