import { Schema } from "effect"

export class ParityFailed extends Schema.TaggedError<ParityFailed>()("ParityFailed", {
  fixture: Schema.String,
  message: Schema.String,
}) {}
