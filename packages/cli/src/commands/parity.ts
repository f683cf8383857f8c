import { Parity } from "@spot/core"
import { Effect } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { backendFlags, backendLayer, describeBackend } from "../backends.ts"
import { ParityFailed } from "../errors.ts"
import { printJson, printRecord } from "../output.ts"

export const parity = Command.make(
  "parity",
  {
    fixture: Argument.Directory("fixture-dir").pipe(
      Argument.withDescription("Folder with model/ and reference.safetensors (shared/fixtures/hf-t5-parity layout)"),
    ),
    ...backendFlags,
    json: Flag.Boolean("json").pipe(Flag.withDefault(false)),
  },
  ({ fixture, json, ...choice }) =>
    Effect.gen(function* () {
      const info = yield* describeBackend
      const report = { ...(yield* Parity.runParity(fixture)), ...info }
      if (json) yield* printJson(report)
      else
        yield* printRecord(`parity ${fixture} on ${info.backend}: ${report.pass ? "PASS" : "FAIL"}`, {
          ...report,
          provider: undefined,
        })
      if (!report.pass) return yield* new ParityFailed({ fixture, message: "outside the tolerances" })
    }).pipe(Effect.provide(backendLayer(choice))),
).pipe(Command.withDescription("Compare loss, logits, encoder output, prompt gradient and generation with transformers."))
