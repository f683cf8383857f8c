/**
 * Typed errors of the core. Every error names where it came from (`file`, `field`) so that a user
 * can fix the input without reading a stack trace. The graph layer's errors live in `graph/errors.ts`
 * and are re-exported here.
 */
import { Schema } from "effect"

export { BackendError, BackendUnavailable, InputError, SafetensorsError, ShapeError } from "./graph/errors.ts"

/** A `config.json` value that is missing, malformed or unsupported. */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  file: Schema.String,
  field: Schema.String,
  message: Schema.String,
}) {}

/** A checkpoint that lacks a tensor, has one of the wrong shape, or is in an unsupported format. */
export class CheckpointError extends Schema.TaggedError<CheckpointError>()("CheckpointError", {
  file: Schema.String,
  field: Schema.String,
  message: Schema.String,
}) {}

/** A data file (JSONL, CSV/TSV) with a malformed line, a missing field or an unknown label. */
export class DataError extends Schema.TaggedError<DataError>()("DataError", {
  file: Schema.String,
  line: Schema.Number,
  field: Schema.String,
  message: Schema.String,
}) {}

/** Training stopped: a non-finite loss or gradient; the last good checkpoint is intact. */
export class TrainingDiverged extends Schema.TaggedError<TrainingDiverged>()("TrainingDiverged", {
  step: Schema.Number,
  message: Schema.String,
}) {}

/** A prompt-library problem: bad entry name, damaged or missing entry, entry for another model. */
export class LibraryError extends Schema.TaggedError<LibraryError>()("LibraryError", {
  library: Schema.String,
  entry: Schema.String,
  message: Schema.String,
}) {}

/** A Hugging Face Hub id (`org/name@revision`) that is not in the local cache, or a cache entry that is damaged. */
export class HubError extends Schema.TaggedError<HubError>()("HubError", {
  repo: Schema.String,
  file: Schema.String,
  message: Schema.String,
}) {}

/** A tokenizer that does not fit the model (vocabulary larger than the model's, or bytes for a 32k model). */
export class TokenizerMismatch extends Schema.TaggedError<TokenizerMismatch>()("TokenizerMismatch", {
  tokenizer: Schema.String,
  model: Schema.String,
  message: Schema.String,
}) {}
