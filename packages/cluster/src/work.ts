/**
 * What a worker computes: the cells of studies and of transfers, with its own model and backend. The
 * spec a cell belongs to is read from `spot_grid_spec` and decoded once per study id (the id is a hash
 * of spec and model, so a cached spec never goes stale); a few recent ones are kept.
 */
import { InputError, type Tuning } from "@spot/core"
import { Effect, type FileSystem, type Path, Result } from "effect"
import { CellFailed, type CellInputs, type CellPayload, type CellWorkShape } from "./grid.ts"
import { type DecodedStudy, decodeStudySpec, type StudySpec, studyCell } from "./study.ts"
import { type DecodedTransfer, decodeTransferSpec, type TransferSpec, transferCell } from "./transfer.ts"

export type DecodedSpec = DecodedStudy | DecodedTransfer

/** A stored spec, by its `kind`. */
export const decodeSpec = (text: string): Result.Result<DecodedSpec, InputError> => {
  const parsed = Result.try({
    try: () => JSON.parse(text) as StudySpec | TransferSpec,
    catch: () => new InputError({ field: "grid spec", message: "not JSON" }),
  })
  if (Result.isFailure(parsed)) return Result.fail(parsed.failure)
  const s = parsed.success
  const kind: unknown = s?.kind
  switch (s?.kind) {
    case "study":
      return decodeStudySpec(s)
    case "transfer":
      return decodeTransferSpec(s)
    default:
      return Result.fail(new InputError({ field: "grid spec", message: `unknown kind ${JSON.stringify(kind)}` }))
  }
}

/** How many decoded specs a worker keeps. */
export const SPEC_CACHE = 8

/**
 * A worker's cell work: its model and backend in `env`; each cell's spec decoded once per study and
 * kept (`SPEC_CACHE` most recent).
 */
export const gridCellWork = (
  env: Tuning.Env,
  fingerprint: string,
  worker: string,
): Effect.Effect<CellWorkShape, never, FileSystem.FileSystem | Path.Path> =>
  Effect.map(Effect.context<FileSystem.FileSystem | Path.Path>(), (ctx) => {
    const cache = new Map<string, DecodedSpec>()
    const specOf = (cell: CellPayload, inputs: CellInputs) =>
      Effect.gen(function* () {
        const hit = cache.get(cell.study)
        if (hit) return hit
        const d = yield* Effect.fromResult(decodeSpec(yield* inputs.spec))
        cache.set(cell.study, d)
        for (const k of cache.keys()) if (cache.size > SPEC_CACHE) cache.delete(k)
        return d
      })
    return {
      fingerprint,
      worker,
      run: (cell, inputs) =>
        Effect.gen(function* () {
          const spec = yield* specOf(cell, inputs)
          return spec.kind === "study" ? yield* studyCell(env, spec, cell, inputs.lookup) : yield* transferCell(env, spec, cell)
        }).pipe(
          Effect.mapError((e) =>
            e._tag === "CellFailed"
              ? e
              : new CellFailed({ study: cell.study, key: cell.key, message: "message" in e ? String(e.message) : String(e) }),
          ),
          Effect.provide(ctx),
        ),
    }
  })
