import { Parity } from "@spot/core"
import { Effect } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { BACKENDS, backendLayer } from "../backends.ts"
import { ParityFailed } from "../errors.ts"
import { printJson, printRecord } from "../output.ts"

export const parity = Command.make(
  "parity",
  {
    fixture: Argument.Directory("fixture-dir").pipe(
      Argument.withDescription("Folder with model/ and reference.safetensors (shared/fixtures/hf-t5-parity layout)"),
    ),
    backend: Flag.Literals("backend", BACKENDS).pipe(Flag.withDefault("reference" as const)),
    json: Flag.Boolean("json").pipe(Flag.withDefault(false)),
  },
  ({ fixture, backend, json }) =>
    Effect.gen(function* () {
      const report = { ...(yield* Parity.runParity(fixture).pipe(Effect.provide(backendLayer(backend)))), backend }
      if (json) yield* printJson(report)
      else yield* printRecord(`parity ${fixture} on ${backend}: ${report.pass ? "PASS" : "FAIL"}`, report)
      if (!report.pass) return yield* new ParityFailed({ fixture, message: "outside the tolerances" })
    }),
).pipe(Command.withDescription("Compare loss, logits, encoder output, prompt gradient and generation with transformers."))
