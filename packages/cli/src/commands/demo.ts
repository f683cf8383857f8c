import { resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { DirectoryLibrary, InputError, Safetensors, T5Runner, Tokenizers } from "@spot/core"
import { Demo, Micro } from "@spot/experiments"
import { Console, Effect, FileSystem, Option, Path } from "effect"
import { Command, Flag } from "effect/cli"
import { backendFlags, backendLayer, describeBackend } from "../backends.ts"
import { lockOwner } from "../library-store.ts"
import { loadModel } from "../model.ts"
import { printJson } from "../output.ts"
import { progressLayer } from "../progress.ts"

/** The micro T5 that ships in @spot/experiments (its models/micro-t5/), wherever that package is installed. */
export const MICRO_MODEL = resolve(fileURLToPath(Micro.MICRO_MODEL_URL))

export const demo = Command.make(
  "demo",
  {
    model: Flag.String("model").pipe(Flag.withDefault(MICRO_MODEL), Flag.withDescription("defaults to the shipped micro T5")),
    out: Flag.String("out").pipe(Flag.withDefault("spot-demo"), Flag.withDescription("folder for the library and the report")),
    quick: Flag.Boolean("quick").pipe(
      Flag.withDefault(false),
      Flag.withDescription("smoke-test size (2 sources, 1 target, 1 seed, a few steps): checks an install in seconds"),
    ),
    seeds: Flag.String("seeds").pipe(Flag.optional, Flag.withDescription("comma-separated (default 0,1)")),
    targetSteps: Flag.Int("target-steps").pipe(Flag.optional, Flag.withDescription(`default ${Demo.DEFAULT_DEMO.targetSteps}`)),
    sourceSteps: Flag.Int("source-steps").pipe(Flag.optional, Flag.withDescription(`default ${Demo.DEFAULT_DEMO.sourceSteps}`)),
    mixture: Flag.String("mixture").pipe(
      Flag.optional,
      Flag.withDescription("source tasks mixed for the generic SPoT prompt (comma-separated; default: all sources)"),
    ),
    ...backendFlags,
    json: Flag.Boolean("json").pipe(Flag.withDefault(false)),
  },
  (f) =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const info = yield* describeBackend
      const model = yield* loadModel(f.model)
      const runner = yield* T5Runner.makeRunner(model)
      const libDir = path.join(f.out, `library-${new Date().toISOString().replace(/[:.]/g, "-")}`)
      yield* fs.makeDirectory(f.out, { recursive: true })
      const base = f.quick ? Demo.QUICK_DEMO : Demo.DEFAULT_DEMO
      const options = {
        ...base,
        seeds: Option.match(f.seeds, { onNone: () => base.seeds, onSome: (s) => s.split(",").map(Number) }),
        targetSteps: Option.getOrElse(f.targetSteps, () => base.targetSteps),
        sourceSteps: Option.getOrElse(f.sourceSteps, () => base.sourceSteps),
        mixture: Option.match(f.mixture, {
          onNone: () => base.mixture,
          onSome: (s) => s.split(",").filter((m) => m.length > 0),
        }),
      }
      const unknown = options.mixture.filter((m) => !options.sources.includes(m))
      if (unknown.length > 0 || options.mixture.length === 0) {
        return yield* new InputError({
          field: "--mixture",
          message: `the generic SPoT mixture must be a non-empty subset of the sources (${options.sources.join(", ")}); got ${unknown.join(", ") || "nothing"}`,
        })
      }
      const report = yield* Demo.runDemo({ model, tokenizer: Tokenizers.byteTokenizer, runner }, options).pipe(
        Effect.provide(DirectoryLibrary.layer(libDir, { create: true, owner: lockOwner() })),
      )
      const reportFile = path.join(f.out, "report.json")
      const full = { ...report, backend: info.backend, model: f.model, options }
      yield* Safetensors.writeFileAtomic(reportFile, new TextEncoder().encode(`${JSON.stringify(full, null, 2)}\n`))
      if (f.json) return yield* printJson({ ...full, report: reportFile })
      yield* Console.log("")
      yield* Console.log(Demo.formatDemo(report))
      yield* Console.log("")
      yield* Console.log(
        `validation accuracy (%) over seeds ${options.seeds.join(", ")}; ${report.targets.length} targets, sources: ${report.sources.join(", ")}`,
      )
      yield* Console.log(`library: ${report.library}`)
      yield* Console.log(`report:  ${reportFile}`)
      yield* Console.log(`took ${report.seconds.toFixed(1)} s on ${info.backend}`)
    }).pipe(Effect.provide(backendLayer(f)), Effect.provide(progressLayer(f.json))),
).pipe(Command.withDescription("SPoT end to end on the shipped micro T5 and a generated task suite (the main job)."))
