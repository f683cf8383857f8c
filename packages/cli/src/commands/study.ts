import { InputError, Recipe, Safetensors, Similarity, Study, T5Runner } from "@spot/core"
import { StudyReport } from "@spot/experiments"
import { Console, Effect, FileSystem, Option, Path, Result } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { backendFlags, backendLayer, describeBackend } from "../backends.ts"
import { loadModelAndTokenizer } from "../common.ts"
import { UsageError } from "../errors.ts"
import { printJson } from "../output.ts"
import { progressLayer } from "../progress.ts"
import { decodeSpec, loadSpecTasks, type StudySpec, specOptions, specResource, syntheticSpec } from "../study-spec.ts"
import { checkOutDir } from "../validate.ts"
import { MICRO_MODEL } from "./demo.ts"
import { clusterStudy } from "./study-cluster.ts"

const list = (s: string) => s.split(",").filter((x) => x !== "")

/** The study's flags checked before any work. */
const checkStudyFlags = (f: {
  sources: string
  targets: string
  seeds: string
  workers: number
  sourceSteps: number
  targetSteps: number
  train: number
}) =>
  Effect.gen(function* () {
    const usage = (field: string, message: string) => new UsageError({ field, message })
    if (list(f.sources).length === 0) return yield* usage("--sources", "needs at least one task")
    if (list(f.targets).length === 0) return yield* usage("--targets", "needs at least one task")
    const seeds = list(f.seeds)
    if (seeds.length === 0 || seeds.some((s) => !/^-?\d+$/.test(s.trim()) || !Number.isSafeInteger(Number(s))))
      return yield* usage("--seeds", `must be comma-separated integers, got ${JSON.stringify(f.seeds)}`)
    for (const [flag, v] of [
      ["--workers", f.workers],
      ["--source-steps", f.sourceSteps],
      ["--target-steps", f.targetSteps],
      ["--train-examples", f.train],
    ] as const)
      if (!(v >= 1)) return yield* usage(flag, `must be at least 1, got ${v}`)
  })

/** Finished cells as safetensors files under `<out>/cells/`, so that a rerun resumes. */
const fileCells = (dir: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    yield* fs.makeDirectory(dir, { recursive: true })
    const file = (key: string) => path.join(dir, `${key.replace(/[^A-Za-z0-9._-]/g, "__")}.safetensors`)
    const store: Study.CellStore = {
      get: (key) =>
        fs.readFile(file(key)).pipe(
          Effect.map((bytes) => {
            const r = Safetensors.decodeSafetensors(bytes, file(key))
            if (Result.isFailure(r)) return undefined // damaged or partial: recompute
            const t = r.success.tensors
            const score = Number(r.success.metadata.score)
            if (!Number.isFinite(score)) return undefined
            return {
              score,
              ...(t.has("prompt") ? { prompt: t.get("prompt") as import("@spot/core").HostTensor<"f32"> } : {}),
              ...(t.has("embedding") ? { embedding: t.get("embedding") as import("@spot/core").HostTensor<"f32"> } : {}),
            }
          }),
          Effect.orElseSucceed(() => undefined),
        ),
      put: (key, c) =>
        Safetensors.writeSafetensors(
          file(key),
          { ...(c.prompt ? { prompt: c.prompt } : {}), ...(c.embedding ? { embedding: c.embedding } : {}) },
          { score: String(c.score), key },
        ).pipe(Effect.provideService(FileSystem.FileSystem, fs), Effect.orDie),
    }
    return store
  })

/** Writes study.json and every rendered output next to it. */
export const writeOutputs = (dir: string, r: Study.StudyResult) =>
  Effect.gen(function* () {
    const path = yield* Path.Path
    const w = (name: string, text: string) => Safetensors.writeFileAtomic(path.join(dir, name), new TextEncoder().encode(text))
    yield* w("study.json", `${JSON.stringify(r, null, 2)}\n`)
    yield* w("rer.csv", StudyReport.matrixCsv(r.targets, r.sources, r.rer))
    yield* w("similarity.csv", StudyReport.matrixCsv(r.targets, r.sources, r.similarity))
    yield* w("correlation.csv", StudyReport.correlationCsv(r))
    yield* w("summary.csv", StudyReport.summaryCsv(r))
    yield* w("rer.svg", StudyReport.heatmapSvg("Relative error reduction (target ← source)", r.targets, r.sources, r.rer))
    yield* w("similarity.svg", StudyReport.heatmapSvg("Task-embedding similarity", r.targets, r.sources, r.similarity))
    yield* w("report.html", StudyReport.htmlReport(r))
    return path.join(dir, "report.html")
  })

export const study = Command.make(
  "study",
  {
    spec: Flag.String("spec").pipe(
      Flag.withDefault(""),
      Flag.withDescription(
        "study spec (JSON): tasks (presets, files + fields + metrics, generated), sources, targets, model, seeds, steps, recipe",
      ),
    ),
    model: Flag.String("model").pipe(Flag.withDefault(MICRO_MODEL)),
    out: Flag.String("out").pipe(Flag.withDefault("spot-study")),
    sources: Flag.String("sources").pipe(Flag.withDefault(Study.DEFAULT_STUDY.sources.join(","))),
    targets: Flag.String("targets").pipe(Flag.withDefault(Study.DEFAULT_STUDY.targets.join(","))),
    seeds: Flag.String("seeds").pipe(Flag.withDefault("0")),
    workers: Flag.Int("workers").pipe(Flag.withDefault(2)),
    sourceSteps: Flag.Int("source-steps").pipe(Flag.withDefault(Study.DEFAULT_STUDY.sourceSteps)),
    targetSteps: Flag.Int("target-steps").pipe(Flag.withDefault(Study.DEFAULT_STUDY.targetSteps)),
    train: Flag.Int("train-examples").pipe(Flag.withDefault(Study.DEFAULT_STUDY.train)),
    recipe: Flag.Literals("recipe", Recipe.RECIPE_KINDS).pipe(
      Flag.withDefault(Study.DEFAULT_STUDY.recipe.kind),
      Flag.withDescription("task embeddings: the runs' early checkpoint (paper) or steps from a uniform init"),
    ),
    embeddingSteps: Flag.Int("embedding-steps").pipe(Flag.withDefault(Study.DEFAULT_STUDY.recipe.steps)),
    similarity: Flag.Literals("similarity", ["per-token-average-cosine", "cosine-of-average"] as const).pipe(
      Flag.withDefault("per-token-average-cosine" as const),
    ),
    ...backendFlags,
    json: Flag.Boolean("json").pipe(Flag.withDefault(false)),
    cluster: Flag.String("cluster").pipe(
      Flag.optional,
      Flag.withDescription("postgres://… — cells computed by `spot worker`s of that cluster"),
    ),
    status: Flag.Boolean("status").pipe(Flag.withDefault(false), Flag.withDescription("with --cluster: show progress")),
  },
  (f) =>
    Effect.gen(function* () {
      yield* checkStudyFlags(f)
      yield* checkOutDir("--out", f.out)
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const info = yield* describeBackend
      // the flags are a shorthand for a spec over the generated suite
      const spec: StudySpec =
        f.spec !== ""
          ? yield* Effect.fromResult(
              decodeSpec(
                yield* fs
                  .readFileString(f.spec)
                  .pipe(Effect.mapError((e) => new InputError({ field: "--spec", message: `${f.spec}: ${e.message}` }))),
                f.spec,
              ),
            )
          : {
              ...syntheticSpec(list(f.sources), list(f.targets), f.train, Study.DEFAULT_STUDY.valid),
              seeds: list(f.seeds).map(Number),
              workers: f.workers,
              sourceSteps: f.sourceSteps,
              targetSteps: f.targetSteps,
              recipe: f.recipe,
              embeddingSteps: f.embeddingSteps,
            }
      const data = yield* loadSpecTasks(spec, f.spec !== "" ? f.spec : "(flags)")
      const { model, tokenizer } = yield* loadModelAndTokenizer(
        spec.model ? yield* specResource(spec.model, f.spec) : f.model,
        // without a tokenizer: the model folder's own (tokenizer.json, spiece.model, or bytes for a byte model)
        spec.tokenizer ? yield* specResource(spec.tokenizer, f.spec) : spec.model || !f.model.startsWith("random:") ? "" : "byte",
      )
      const runner = yield* T5Runner.makeRunner(model)
      const options = { ...specOptions(spec), similarity: Similarity.similarityNamed(f.similarity) as Similarity.Similarity }
      if (Option.isSome(f.cluster)) {
        const env = { model, tokenizer, runner }
        const c = yield* clusterStudy({ cluster: f.cluster.value, env, options, data, status: f.status, json: f.json })
        if (!c) return
        yield* fs.makeDirectory(f.out, { recursive: true })
        const html = yield* writeOutputs(f.out, c.result)
        if (f.json) return yield* printJson({ ...c.result, study: c.study, report: html })
        return yield* Console.log(`study ${c.study}: report ${html} (cells computed by the cluster's workers)`)
      }
      const store = yield* fileCells(path.join(f.out, "cells"))
      const r = yield* Study.runStudy({ model, tokenizer, runner }, options, store, data)
      const html = yield* writeOutputs(f.out, r)
      if (f.json) return yield* printJson({ ...r, report: html, backend: info.backend })
      yield* Console.log(`baseline ${(100 * r.baseline).toFixed(1)}, oracle ${(100 * r.oracle).toFixed(1)}`)
      for (const s of r.summary) {
        yield* Console.log(
          `best of top-${String(s.k).padEnd(2)} ${(100 * s.score).toFixed(1)}  oracle gain kept ${(100 * s.oracle_gain_kept).toFixed(0)}%  search space skipped ${(100 * s.search_space_skipped).toFixed(0)}%`,
        )
      }
      yield* Console.log(`report: ${html} (${r.cells} cells computed, ${r.seconds.toFixed(1)} s)`)
    }).pipe(Effect.provide(backendLayer(f)), Effect.provide(progressLayer(f.json))),
).pipe(
  Command.withDescription(
    "Transferability study (sources × targets × seeds, resumable) over a spec's tasks or the generated suite.",
  ),
)

export const reportCommand = Command.make("report", { dir: Argument.Directory("study-dir") }, ({ dir }) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const file = path.join(dir, "study.json")
    const text = yield* fs.readFileString(file)
    const r = yield* Effect.fromResult(StudyReport.parseStudyJson(text, file))
    const html = yield* writeOutputs(dir, r)
    yield* Console.log(`wrote ${html}`)
  }),
).pipe(Command.withDescription("Render a study's study.json as CSV, SVG heatmaps and one HTML report."))
