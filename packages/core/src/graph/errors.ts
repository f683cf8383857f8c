/**
 * Typed errors of the graph layer: tensors, IR, backends, safetensors. Every error names where it came
 * from (`file`, `field`, `op`) so that a user can fix the input without reading a stack trace.
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
