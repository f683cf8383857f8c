/** `spot data preview`: the text-to-text examples a task preset makes of a file of Hugging Face records. */

import { Console, Effect } from "effect"
import { Command, Flag } from "effect/cli"
import { loadData, taskFlag } from "../common.ts"

const preview = Command.make(
  "preview",
  {
    task: Flag.String("task").pipe(Flag.withDescription("a task preset: glue/rte, superglue/record, … (T5's format)")),
    file: Flag.String("file").pipe(
      Flag.withDescription(
        "records as Hugging Face's glue / super_glue datasets store them (JSONL from Dataset.to_json, CSV, Parquet), or a Hub split org/dataset[@rev][/config]:split",
      ),
    ),
    taskless: Flag.Boolean("taskless").pipe(
      Flag.withDefault(false),
      Flag.withDescription("the prompt-tuning code's taskless variant: no task-name word at the start"),
    ),
    split: Flag.Literals("split", ["train", "eval"] as const).pipe(
      Flag.withDefault("eval" as const),
      Flag.withDescription("train: T5's training variant (WSC keeps only correct referents)"),
    ),
    limit: Flag.Int("limit").pipe(Flag.withDefault(0), Flag.withDescription("show at most this many examples (0: all)")),
    json: Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription('one {"input", "target"} line per example')),
  },
  (f) =>
    Effect.gen(function* () {
      const def = yield* taskFlag(f.task, { taskless: f.taskless, split: f.split })
      const ds = yield* loadData(f.file, def)
      const shown = f.limit > 0 ? ds.examples.slice(0, f.limit) : ds.examples
      if (f.json) {
        yield* Console.log(shown.map((e) => JSON.stringify({ input: e.input, target: e.target })).join("\n"))
        return
      }
      yield* Console.log(`${f.task}${f.taskless ? " (taskless)" : ""}: ${ds.examples.length} examples from ${f.file}`)
      for (let i = 0; i < shown.length; i++) {
        const e = shown[i]
        yield* Console.log(
          `\n[${i + 1}] input:  ${e.input}\n    target: ${e.target}${e.group !== undefined ? `  (group ${e.group})` : ""}`,
        )
      }
    }),
).pipe(Command.withDescription("Show the input/target pairs a task preset makes of a file (one per ReCoRD answer)."))

export const data = Command.make("data").pipe(Command.withDescription("Inspect task data."), Command.withSubcommands([preview]))
