/**
 * `spot transfer --cluster`: the runs of a transfer plan (best-of-top-k candidates, a weighted average,
 * a mixture) as cells of the grid, trained in parallel by the cluster's workers.
 *
 * The submitter resolves every run itself (`Transfer.resolveRun`: source prompts from the library,
 * weighted averages, the shared init) and stores the transfer's spec once — tuning options, seed, the
 * training sets the runs name and the target's validation set. Each cell carries one run: its stages
 * (data by name, init by index) and its init prompts as safetensors bytes. A worker trains it with the
 * core's `Transfer.runResolved`, the code `Transfer.executePlan` runs on one machine, and the best run
 * by validation score wins as there (`Transfer.bestRun`, plan order breaking ties).
 */
import {
  type Dataset,
  type HostTensor,
  InputError,
  type LibraryEntry,
  type Retrieval,
  Safetensors,
  Transfer,
  type Tuning,
} from "@spot/core"
import { Effect, Result } from "effect"
import { type CellPayload, type CellResult, executeCell, putSpec, type WaitStatus, whileWatching } from "./grid.ts"

/** A transfer as workers read it. */
export interface TransferSpec {
  readonly kind: "transfer"
  readonly options: Tuning.TuneOptions
  readonly seed: number
  /** The training sets the runs name ("target" and the sources of a mixture). */
  readonly train: Readonly<Record<string, Dataset>>
  readonly valid: Dataset
}

/** A decoded transfer spec: what a worker keeps per transfer. */
export interface DecodedTransfer {
  readonly kind: "transfer"
  readonly options: Tuning.TuneOptions
  readonly seed: number
  readonly data: Transfer.PlanData
}

const bad = (field: string, message: string) => new InputError({ field, message })

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x)
const isDataset = (x: unknown): x is Dataset => isObject(x) && isObject(x.task) && Array.isArray(x.examples)

/** Checks a parsed spec's shape (`kind: "transfer"`). */
export const decodeTransferSpec = (s: TransferSpec): Result.Result<DecodedTransfer, InputError> => {
  if (!isObject(s.options) || typeof s.options.steps !== "number" || typeof s.options.promptLength !== "number")
    return Result.fail(bad("transfer spec", "options are missing or malformed"))
  if (!Number.isInteger(s.seed)) return Result.fail(bad("transfer spec", "seed is not an integer"))
  if (!isObject(s.train) || !Object.values(s.train).every(isDataset))
    return Result.fail(bad("transfer spec", "training sets are missing or malformed"))
  if (!isDataset(s.valid)) return Result.fail(bad("transfer spec", "the validation set is missing or malformed"))
  return Result.succeed({
    kind: "transfer",
    options: s.options,
    seed: s.seed,
    data: { train: new Map(Object.entries(s.train)), valid: s.valid },
  })
}

/** A run as a cell's JSON: stages with data by name and init by index into the cell's tensors. */
interface RunCell {
  readonly label: string
  readonly stages: ReadonlyArray<{ readonly data: readonly string[]; readonly init: number | "previous-stage" }>
}

const initName = (i: number) => `init${i}`

/** A resolved run as a cell: `cell` (JSON) and `tensors` (its init prompts, safetensors bytes). */
export const encodeRun = (run: Transfer.ResolvedRun): { readonly cell: string; readonly tensors: Uint8Array } => {
  const tensors: Record<string, HostTensor> = {}
  const stages = run.stages.map((s, i) => {
    if (s.init === "previous-stage") return { data: s.data, init: "previous-stage" as const }
    tensors[initName(i)] = s.init
    return { data: s.data, init: i }
  })
  return { cell: JSON.stringify({ label: run.label, stages } satisfies RunCell), tensors: Safetensors.encodeSafetensors(tensors) }
}

/** The run a cell carries; every failure names the cell. */
export const decodeRun = (
  cell: string | undefined,
  tensors: Uint8Array | undefined,
  key: string,
): Result.Result<Transfer.ResolvedRun, InputError> => {
  const field = `cell ${key}`
  const parsed = Result.try({ try: () => JSON.parse(cell ?? "") as RunCell, catch: () => bad(field, "no run in the cell") })
  if (Result.isFailure(parsed)) return Result.fail(parsed.failure)
  const r = parsed.success
  if (typeof r?.label !== "string" || !Array.isArray(r.stages)) return Result.fail(bad(field, "the run is malformed"))
  const st = Safetensors.decodeSafetensors(tensors ?? new Uint8Array(), field)
  if (Result.isFailure(st)) return Result.fail(bad(field, `init prompts: ${st.failure.message}`))
  const stages: Transfer.ResolvedStage[] = []
  for (const s of r.stages) {
    if (!Array.isArray(s?.data) || !s.data.every((d: unknown) => typeof d === "string"))
      return Result.fail(bad(field, "a stage's data is malformed"))
    if (s.init === "previous-stage") {
      stages.push({ data: s.data, init: "previous-stage" })
      continue
    }
    const t = st.success.tensors.get(initName(s.init))
    if (t?.dtype !== "f32") return Result.fail(bad(field, `init prompt ${s.init} is missing or not f32`))
    stages.push({ data: s.data, init: t as HostTensor<"f32"> })
  }
  return Result.succeed({ label: r.label, stages })
}

/** A transfer run on a worker: its model and backend in `env`, the transfer decoded from the stored spec. */
export const transferCell = (env: Tuning.Env, t: DecodedTransfer, cell: CellPayload) =>
  Effect.gen(function* () {
    const run = yield* Effect.fromResult(decodeRun(cell.cell, cell.tensors, cell.key))
    const r = yield* Transfer.runResolved(env, run, t.data, t.seed, t.options)
    if (!r) return yield* bad(`cell ${cell.key}`, "the run has no stage")
    return { score: r.score, tensors: Safetensors.encodeSafetensors({ prompt: r.prompt }) } satisfies CellResult
  })

/** A transfer's id: a hash of the model, the spec and every run (inits included), so the same command joins the same cells. */
export const transferId = (fingerprint: string, spec: string, cells: ReadonlyArray<{ cell: string; tensors: Uint8Array }>) =>
  Effect.promise(async () => {
    const enc = new TextEncoder()
    const parts = [enc.encode(`${fingerprint}\n${spec}\n`), ...cells.flatMap((c) => [enc.encode(`${c.cell}\n`), c.tensors])]
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
    let at = 0
    for (const p of parts) {
      all.set(p, at)
      at += p.length
    }
    const d = await crypto.subtle.digest("SHA-256", all)
    return `transfer-${[...new Uint8Array(d)]
      .slice(0, 8)
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("")}`
  })

const promptOf = (r: CellResult, key: string) => {
  const st = Safetensors.decodeSafetensors(r.tensors ?? new Uint8Array(), `cell ${key}`)
  const p = Result.isSuccess(st) ? st.success.tensors.get("prompt") : undefined
  return p?.dtype === "f32"
    ? Effect.succeed(p as HostTensor<"f32">)
    : Effect.fail(bad(`cell ${key}`, "the recorded result holds no f32 prompt"))
}

/**
 * Runs a transfer plan on the cluster: resolves every run here, stores the spec, submits one cell per
 * run (all at once) and keeps the best by validation score, as `Transfer.executePlan` does.
 */
export const runClusterTransfer = (
  env: Tuning.Env,
  plan: Retrieval.TransferPlan,
  entries: ReadonlyMap<string, LibraryEntry>,
  sources: ReadonlyMap<string, Dataset>,
  target: { readonly train: Dataset; readonly valid: Dataset },
  seed: number,
  o: Tuning.TuneOptions,
  fingerprint: string,
  report?: (s: WaitStatus) => Effect.Effect<void>,
) =>
  Effect.gen(function* () {
    const data = Transfer.planData(sources, target)
    const resolved = yield* Effect.forEach(plan.runs, (run) => Transfer.resolveRun(env, run, entries, data, seed, o))
    const names = new Set(resolved.flatMap((r) => r.stages.flatMap((s) => s.data)))
    const train = Object.fromEntries([...names].map((n) => [n, data.train.get(n) as Dataset]))
    const spec = JSON.stringify({ kind: "transfer", options: o, seed, train, valid: data.valid } satisfies TransferSpec)
    const cells = resolved.map(encodeRun)
    const id = yield* transferId(fingerprint, spec, cells)
    yield* putSpec(id, spec)
    const results = yield* whileWatching(
      Effect.forEach(
        cells,
        (c, i) => executeCell({ study: id, key: `run/${i}`, fingerprint, cell: c.cell, tensors: c.tensors }),
        { concurrency: "unbounded" },
      ),
      { study: id, fingerprint, total: cells.length, report },
    )
    const runs: Transfer.PlanRun[] = []
    for (const [i, r] of results.entries())
      runs.push({ label: resolved[i].label, score: r.score, prompt: yield* promptOf(r, `run/${i}`) })
    return { id, runs, best: Transfer.bestRun(runs) }
  })
