/** The `spot` command. */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { Command } from "effect/cli"
import { bench } from "./commands/bench.ts"
import { data } from "./commands/data.ts"
import { demo } from "./commands/demo.ts"
import { doctor } from "./commands/doctor.ts"
import { evalCommand, predict } from "./commands/evaluate.ts"
import { library } from "./commands/library.ts"
import { parity } from "./commands/parity.ts"
import { pretrain } from "./commands/pretrain.ts"
import { reportCommand, study } from "./commands/study.ts"
import { train } from "./commands/train.ts"
import { transfer } from "./commands/transfer.ts"
import { tuneModel } from "./commands/tune-model.ts"
import { worker } from "./commands/worker.ts"
import { exitCodeOf, failureLines } from "./exit.ts"

const spot = Command.make("spot").pipe(
  Command.withDescription(
    "Soft prompt tuning and SPoT prompt transfer on frozen T5 models. --verbose (anywhere) adds the cause chain to errors. Exit codes: 0 ok, 1 runtime error, 2 usage, 3 bad input, 130 interrupted.",
  ),
  Command.withSubcommands([
    demo,
    train,
    evalCommand,
    predict,
    tuneModel,
    transfer,
    library,
    study,
    reportCommand,
    pretrain,
    parity,
    bench,
    data,
    worker,
    doctor,
  ]),
)

// `--verbose` is taken out before parsing so that every command accepts it.
const argv = process.argv.slice(2)
const verbose = argv.includes("--verbose") || process.env.SPOT_VERBOSE === "1"
const args = argv.filter((a) => a !== "--verbose")

// one scope for the command: the T5 runners it makes dispose their compiled sessions when it ends
const program = Command.runWith(spot, { version: "0.1.0", renderErrors: false })(args).pipe(
  Effect.scoped,
  Effect.provide(Layer.mergeAll(NodeServices.layer)),
)

NodeRuntime.runMain(program as Effect.Effect<void, unknown>, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => {
    for (const line of failureLines(exit, verbose)) process.stderr.write(`${line}\n`)
    onExit(exit._tag === "Success" ? 0 : exitCodeOf(exit.cause))
  },
})
