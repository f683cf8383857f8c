/** Progress of long work as a service: the CLI renders it as a bar or JSON lines; the default is silent. */
import { Context, Effect, Layer, Option } from "effect"

export type ProgressEvent =
  | {
      readonly kind: "step"
      readonly step: number
      readonly total: number
      readonly loss: number
      readonly lr: number
      readonly elapsedMs: number
    }
  | {
      readonly kind: "eval"
      readonly step: number
      readonly total: number
      readonly score: number
      readonly best: number
      readonly bestStep: number
    }
  | { readonly kind: "checkpoint"; readonly step: number; readonly which: string; readonly path: string }
  | { readonly kind: "resume"; readonly step: number }
  | { readonly kind: "info"; readonly message: string }

export class Progress extends Context.Service<Progress, { readonly report: (e: ProgressEvent) => Effect.Effect<void> }>()(
  "@spot/core/Progress",
) {}

export const silentProgress = Layer.succeed(Progress, { report: () => Effect.void })

/** Reports through the Progress service when one is provided. */
export const report = (e: ProgressEvent) =>
  Effect.flatMap(Effect.serviceOption(Progress), (p) => (Option.isSome(p) ? p.value.report(e) : Effect.void))
