import { Optim, Safetensors, T5Checkpoint, T5Runner, Trainer, Tuning } from "@spot/core"
import { Effect, FileSystem, Path } from "effect"
import { Command, Flag } from "effect/cli"
import { backendLayer } from "../backends.ts"
import { loadModelAndTokenizer, loadTrainingSplits } from "../common.ts"
import { printJson, printRecord } from "../output.ts"
import { progressLayer } from "../progress.ts"
import { checkNumbers } from "../validate.ts"
import { checkTrainFlags, dataSetup, trainFlags } from "./train.ts"

export const tuneModel = Command.make(
  "tune-model",
  {
    ...trainFlags,
    out: Flag.String("out").pipe(Flag.withDescription("checkpoint folder for the best weights")),
    lr: Flag.Finite("lr").pipe(Flag.withDefault(1e-3)),
  },
  (f) =>
    Effect.gen(function* () {
      yield* checkTrainFlags(f)
      yield* checkNumbers([["--lr", f.lr, 0, true]])
      const t0 = performance.now()
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const { model, tokenizer, tokenizerSource } = yield* loadModelAndTokenizer(f.model, f.tokenizer)
      const { train: trainSets, valid } = yield* loadTrainingSplits(f.train, f.valid, f.task, f)
      const runner = yield* T5Runner.makeRunner(model, { feedWeights: true })
      const { problem } = yield* Tuning.modelProblem(dataSetup(f, model, tokenizer, trainSets, valid), runner)
      const result = yield* Trainer.train(problem, {
        steps: f.steps,
        evalEvery: f.evalEvery,
        seed: f.seed,
        optimizer: Optim.adam(),
        schedule: { kind: "constant", lr: f.lr },
        clipNorm: f.clip,
        checkpointDir: f.checkpointDir,
        resume: f.resume,
        runKey: Trainer.runKeyFor({
          model: T5Checkpoint.fingerprint(model),
          data: [...trainSets, valid],
          init: new Map(),
          options: {
            ...f,
            model: undefined,
            train: undefined,
            valid: undefined,
            stream: undefined,
            checkpointDir: undefined,
            resume: undefined,
            json: undefined,
            out: undefined,
          },
        }),
      })
      const best = path.join(f.checkpointDir, "best")
      yield* fs.makeDirectory(f.out, { recursive: true })
      for (const file of ["config.json", "model.safetensors"]) {
        yield* fs.copyFile(path.join(best, file), path.join(f.out, `${file}.tmp`))
        yield* fs.rename(path.join(f.out, `${file}.tmp`), path.join(f.out, file))
      }
      // the tuned folder keeps its tokenizer: the byte marker, or a copy of the tokenizer file
      if (tokenizer.kind === "byte") {
        const cfg = path.join(f.out, "config.json")
        const text = yield* fs.readFileString(cfg)
        const json = { ...(yield* Effect.try(() => JSON.parse(text) as object)), spot_tokenizer: "byte" }
        yield* Safetensors.writeFileAtomic(cfg, new TextEncoder().encode(`${JSON.stringify(json, null, 2)}\n`))
      } else {
        const dest = path.join(f.out, path.basename(tokenizerSource))
        yield* fs.copyFile(tokenizerSource, `${dest}.tmp`).pipe(Effect.flatMap(() => fs.rename(`${dest}.tmp`, dest)))
      }
      const res = {
        out: f.out,
        best_step: result.best.step,
        best_score: result.best.score,
        seconds: (performance.now() - t0) / 1000,
      }
      yield* f.json ? printJson(res) : printRecord("tuned the model", res)
    }).pipe(Effect.provide(backendLayer(f)), Effect.provide(progressLayer(f.json))),
).pipe(Command.withDescription("Model tuning baseline: train every weight (small models)."))
