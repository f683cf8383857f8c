import { Pretrain } from "@spot/experiments"
import { Effect } from "effect"
import { Command, Flag } from "effect/cli"
import { backendFlags, backendLayer } from "../backends.ts"
import { printJson, printRecord } from "../output.ts"
import { progressLayer } from "../progress.ts"

export const pretrain = Command.make(
  "pretrain",
  {
    out: Flag.String("out").pipe(
      Flag.withDefault("micro-t5"),
      Flag.withDescription("checkpoint folder to write (default ./micro-t5; the shipped model is never the default)"),
    ),
    steps: Flag.Int("steps").pipe(Flag.withDefault(1500)),
    seed: Flag.Int("seed").pipe(Flag.withDefault(0)),
    batch: Flag.Int("batch").pipe(Flag.withDefault(64)),
    lr: Flag.Finite("lr").pipe(Flag.withDefault(3e-3)),
    evalEvery: Flag.Int("eval-every").pipe(Flag.withDefault(0), Flag.withDescription("0: five evaluations in all")),
    checkpointDir: Flag.String("checkpoint-dir").pipe(Flag.optional),
    resume: Flag.Boolean("resume").pipe(Flag.withDefault(false)),
    ...backendFlags,
    json: Flag.Boolean("json").pipe(Flag.withDefault(false)),
  },
  ({ out, steps, seed, batch, lr, evalEvery, checkpointDir, resume, json, ...choice }) =>
    Effect.gen(function* () {
      const t0 = performance.now()
      const r = yield* Pretrain.pretrainMicro({
        out,
        steps,
        seed,
        batchSize: batch,
        lr,
        resume,
        ...(evalEvery > 0 ? { evalEvery } : {}),
        ...(checkpointDir._tag === "Some" ? { checkpointDir: checkpointDir.value } : {}),
      })
      const res = { out, steps, seed, exact_match: r.score, seconds: (performance.now() - t0) / 1000 }
      yield* json ? printJson(res) : printRecord("pretrained the micro T5", res)
    }).pipe(Effect.provide(backendLayer(choice)), Effect.provide(progressLayer(json))),
).pipe(Command.withDescription("Train the micro T5 (byte vocabulary) from scratch on the generated corpus."))
