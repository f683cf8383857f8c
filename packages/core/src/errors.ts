/**
 * Typed errors of the core. Every error names where it came from (`file`, `field`) so that a user
 * can fix the input without reading a stack trace.
 */
import { Schema } from "effect"

/** A safetensors file (or buffer) that does not follow the format. */
export class SafetensorsError extends Schema.TaggedError<SafetensorsError>()("SafetensorsError", {
  file: Schema.String,
  field: Schema.String,
  message: Schema.String,
}) {}

/** A shape or dtype mismatch found while building a graph. */
export class ShapeError extends Schema.TaggedError<ShapeError>()("ShapeError", {
  op: Schema.String,
  message: Schema.String,
}) {}

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

/** Inputs to a model call (prompt, ids, masks) that do not fit the model. */
export class InputError extends Schema.TaggedError<InputError>()("InputError", {
  field: Schema.String,
  message: Schema.String,
}) {}

/** A backend that cannot compile or run a graph. */
export class BackendError extends Schema.TaggedError<BackendError>()("BackendError", {
  backend: Schema.String,
  op: Schema.String,
  message: Schema.String,
}) {}

/** A backend that is not available in this environment (no runtime, no adapter, no provider). */
export class BackendUnavailable extends Schema.TaggedError<BackendUnavailable>()("BackendUnavailable", {
  backend: Schema.String,
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
