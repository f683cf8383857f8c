import { Data, Evaluate, T5Runner } from "@spot/core"
import { Console, Effect, FileSystem } from "effect"
import { Command, Flag } from "effect/cli"
import { backendFlags, backendLayer } from "../backends.ts"
import { dataFlags, loadData, loadModelAndTokenizer, loadPlain, loadPromptFile, modelFlags, taskFlag } from "../common.ts"
import { printJson, printRecord } from "../output.ts"
import { checkInts, checkOutFile } from "../validate.ts"

export const evalCommand = Command.make(
  "eval",
  {
    ...modelFlags,
    prompt: Flag.String("prompt").pipe(
      Flag.withDescription("prompt safetensors (key prompt, or a PEFT adapter_model.safetensors)"),
    ),
    data: Flag.String("data").pipe(
      Flag.withDescription(
        "JSONL/CSV/TSV/Parquet file or Hub split org/dataset[@rev][/config]:split of {input, target} (or, with --task, Hugging Face records)",
      ),
    ),
    ...dataFlags,
    task: Flag.String("task").pipe(
      Flag.withDefault(""),
      Flag.withDescription("read --data with a task preset (glue/rte, superglue/multirc, …) and score it with T5's metrics"),
    ),
    taskless: Flag.Boolean("taskless").pipe(Flag.withDefault(false), Flag.withDescription("the preset's taskless variant")),
    method: Flag.Literals("method", ["auto", "rank", "decode", "both"] as const).pipe(
      Flag.withDefault("auto" as const),
      Flag.withDescription(
        "rank classification, greedy decoding (T5's postprocessor: invalid outputs are wrong), or both; auto: rank for classification tasks",
      ),
    ),
    classesFrom: Flag.String("classes-from").pipe(
      Flag.optional,
      Flag.withDescription("training file whose targets define the classes"),
    ),
    batch: Flag.Int("batch").pipe(Flag.withDefault(32)),
    maxSource: Flag.Int("max-source").pipe(Flag.withDefault(512)),
    maxTarget: Flag.Int("max-target").pipe(Flag.withDefault(32)),
    ...backendFlags,
    json: Flag.Boolean("json").pipe(Flag.withDefault(false)),
  },
  (f) =>
    Effect.gen(function* () {
      yield* checkInts([
        ["--batch", f.batch, 1, 65_536],
        ["--max-source", f.maxSource, 1, 65_536],
        ["--max-target", f.maxTarget, 1, 8_192],
      ])
      const { model, tokenizer } = yield* loadModelAndTokenizer(f.model, f.tokenizer)
      const { prompt } = yield* loadPromptFile(f.prompt, model.config.dModel)
      let ds =
        f.task !== ""
          ? yield* loadData(f.data, yield* taskFlag(f.task, { taskless: f.taskless }), f)
          : yield* loadPlain(f.data, undefined, f)
      if (f.classesFrom._tag === "Some")
        ds = yield* Effect.fromResult(Data.withClassesOf(ds, yield* loadPlain(f.classesFrom.value, undefined, f)))
      const runner = yield* T5Runner.makeRunner(model)
      const methods: Evaluate.EvalMethod[] =
        f.method === "both" ? ["rank", "decode"] : f.method === "auto" ? [ds.candidates ? "rank" : "decode"] : [f.method]
      const results = []
      for (const method of methods) {
        const r = yield* Evaluate.evaluatePrompt(runner, tokenizer, prompt, ds, {
          batchSize: f.batch,
          maxSource: f.maxSource,
          maxTarget: f.maxTarget,
          method,
        })
        results.push({ method: r.method, score: r.score, ...r.metrics })
      }
      // the first method's numbers at the top level; every method's in `results`
      const res = { data: f.data, task: ds.task.name, examples: ds.examples.length, ...results[0], results }
      if (f.json) yield* printJson(res)
      else
        for (const r of results)
          yield* printRecord(
            `evaluated ${f.prompt} on ${f.data} (${r.method === "rank" ? "rank classification" : "greedy decoding"})`,
            {
              task: ds.task.name,
              examples: ds.examples.length,
              ...r,
            },
          )
    }).pipe(Effect.provide(backendLayer(f))),
).pipe(Command.withDescription("Evaluate a prompt on a labelled file."))

export const predict = Command.make(
  "predict",
  {
    ...modelFlags,
    prompt: Flag.String("prompt"),
    input: Flag.String("input").pipe(Flag.withDescription('JSONL with an "input" field per line')),
    candidates: Flag.String("candidates").pipe(
      Flag.optional,
      Flag.withDescription("comma-separated targets: rank classification instead of generation"),
    ),
    maxLength: Flag.Int("max-length").pipe(Flag.withDefault(32)),
    beams: Flag.Int("beams").pipe(Flag.withDefault(1), Flag.withDescription("beam width for generation (1: greedy)")),
    out: Flag.String("out").pipe(
      Flag.optional,
      Flag.withDescription("write predictions as JSONL here (atomically) instead of stdout"),
    ),
    batch: Flag.Int("batch").pipe(Flag.withDefault(32)),
    ...backendFlags,
  },
  (f) =>
    Effect.gen(function* () {
      yield* checkInts([
        ["--batch", f.batch, 1, 65_536],
        ["--max-length", f.maxLength, 1, 8_192],
        ["--beams", f.beams, 1, 64],
      ])
      if (f.out._tag === "Some") yield* checkOutFile("--out", f.out.value, [f.input, f.prompt])
      const { model, tokenizer } = yield* loadModelAndTokenizer(f.model, f.tokenizer)
      const { prompt } = yield* loadPromptFile(f.prompt, model.config.dModel)
      const task = { ...Data.plainTask("predict"), target: "{input}" }
      // texts cut as they are read (T5's 512 source tokens), so one huge line costs its parse and no more
      const raw = yield* loadData(f.input, task, { maxSource: 512, maxTarget: 512 })
      const cands = f.candidates._tag === "Some" ? f.candidates.value.split(",") : undefined
      const ds = cands
        ? { ...raw, candidates: cands, task: { ...raw.task, verbalizer: Object.fromEntries(cands.map((c) => [c, c])) } }
        : raw
      const runner = yield* T5Runner.makeRunner(model)
      const r = yield* Evaluate.evaluatePrompt(runner, tokenizer, prompt, ds, {
        batchSize: f.batch,
        maxTarget: f.maxLength,
        beams: f.beams,
      })
      const lines = `${ds.examples.map((e, i) => JSON.stringify({ input: e.input, prediction: r.predictions[i] })).join("\n")}\n`
      if (f.out._tag === "Some") {
        const fs = yield* FileSystem.FileSystem
        const tmp = `${f.out.value}.tmp-${process.pid}`
        yield* fs.writeFileString(tmp, lines).pipe(Effect.flatMap(() => fs.rename(tmp, (f.out as { value: string }).value)))
      } else yield* Console.log(lines.trimEnd())
    }).pipe(Effect.provide(backendLayer(f))),
).pipe(Command.withDescription("Run a trained prompt over a JSONL file (greedy generation or rank classification)."))
