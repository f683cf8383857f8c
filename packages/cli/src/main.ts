/** The `spot` command. */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
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
import { describeError } from "./output.ts"

const spot = Command.make("spot").pipe(
  Command.withDescription("Soft prompt tuning and SPoT prompt transfer on frozen T5 models."),
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

// one scope for the command: the T5 runners it makes dispose their compiled sessions when it ends
const program = Command.run(spot, { version: "0.1.0" }).pipe(
  Effect.scoped,
  Effect.tapError((e) => Console.error(`error: ${describeError(e)}`)),
  Effect.provide(Layer.mergeAll(NodeServices.layer)),
)

NodeRuntime.runMain(program as Effect.Effect<void, unknown>, { disableErrorReporting: true })
