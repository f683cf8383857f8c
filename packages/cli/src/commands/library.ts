import { Init, InputError, Interchange, Library, LibraryError, Recipe, Safetensors, T5Checkpoint } from "@spot/core"
import { Console, Effect, FileSystem, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { withLibrary } from "../library-store.ts"
import { loadModel } from "../model.ts"
import { printJson } from "../output.ts"
import { checkOutFile } from "../validate.ts"
import { copy } from "./library-copy.ts"

const libraryFlag = Flag.String("library").pipe(Flag.withDescription("library folder, or postgres://…[?library=name]"))
const json = Flag.Boolean("json").pipe(Flag.withDefault(false))
/** Numeric metrics from a prompt file's `metrics` metadata (absent or malformed: none). */
const metricsOf = (text: string | undefined): Record<string, number> => {
  try {
    const j = JSON.parse(text ?? "{}") as unknown
    if (typeof j !== "object" || j === null) return {}
    return Object.fromEntries(Object.entries(j).filter(([, v]) => typeof v === "number" && Number.isFinite(v)))
  } catch {
    return {}
  }
}
const norm = (d: Float32Array) => {
  let s = 0
  for (let i = 0; i < d.length; i++) s += d[i] * d[i]
  return Math.sqrt(s)
}
const modelKeyOf = (spec: Option.Option<string>, dModel: number) =>
  Option.isSome(spec)
    ? Effect.map(loadModel(spec.value), (m) => {
        if (m.config.dModel !== dModel) return undefined
        return { fingerprint: T5Checkpoint.fingerprint(m), dModel }
      })
    : Effect.succeed({ fingerprint: T5Checkpoint.ANY_MODEL, dModel })

const readPrompt = (file: string) =>
  Effect.gen(function* () {
    const st = yield* Safetensors.readSafetensors(file)
    const t = st.tensors.get("prompt") ?? st.tensors.get("prompt_embeddings")
    if (t?.dtype !== "f32" || t.shape.length !== 2)
      return yield* new InputError({ field: file, message: "no f32 [L, d] tensor named prompt" })
    const prompt = yield* Effect.fromResult(Init.checkPrompt(t, t.shape[1], file))
    return { prompt, metadata: st.metadata }
  })

const init = Command.make("init", { library: libraryFlag }, ({ library }) =>
  Effect.gen(function* () {
    const lib = yield* Library
    yield* lib.list
    yield* Console.log(`library ready at ${lib.location}`)
  }).pipe(withLibrary(library, { create: true })),
).pipe(Command.withDescription("Create an empty library."))

const add = Command.make(
  "add",
  {
    name: Argument.String("name"),
    library: libraryFlag,
    source: Flag.String("source").pipe(Flag.withDescription("best-checkpoint prompt (safetensors)")),
    embedding: Flag.String("embedding").pipe(Flag.optional, Flag.withDescription("early-checkpoint prompt: the task embedding")),
    embeddingRecipe: Flag.String("embedding-recipe").pipe(
      Flag.withDefault(""),
      Flag.withDescription("the embedding's recipe (JSON); default: the one `spot train`/`spot transfer` recorded in the file"),
    ),
    seed: Flag.Int("seed").pipe(Flag.withDefault(0)),
    model: Flag.String("model").pipe(Flag.optional, Flag.withDescription("the model the prompt was trained for (fingerprint)")),
    task: Flag.String("task").pipe(Flag.optional),
    description: Flag.String("description").pipe(Flag.withDefault("")),
  },
  (f) =>
    Effect.gen(function* () {
      const lib = yield* Library
      const src = yield* readPrompt(f.source)
      const embFile = Option.isSome(f.embedding) ? yield* readPrompt(f.embedding.value) : undefined
      const emb = embFile?.prompt
      const recipeText =
        f.embeddingRecipe !== ""
          ? f.embeddingRecipe
          : (embFile?.metadata[Recipe.PROVENANCE_KEY] ?? src.metadata[Recipe.PROVENANCE_KEY])
      const recipe =
        emb && recipeText !== undefined
          ? yield* Effect.fromResult(
              Recipe.decodeRecipe(
                recipeText,
                f.embeddingRecipe !== ""
                  ? "--embedding-recipe"
                  : `${Option.getOrElse(f.embedding, () => "")} metadata ${Recipe.PROVENANCE_KEY}`,
              ),
            )
          : undefined
      const [L, d] = src.prompt.shape
      const model = yield* modelKeyOf(f.model, d)
      if (!model)
        return yield* new InputError({ field: "--model", message: `the prompt's width ${d} is not the model's d_model` })
      const metrics = metricsOf(src.metadata.metrics)
      yield* lib.put({
        name: f.name,
        task: Option.getOrElse(f.task, () => src.metadata.task ?? f.name),
        description: f.description,
        model,
        promptLength: L,
        created: new Date().toISOString(),
        seeds: [
          {
            seed: f.seed,
            source: src.prompt,
            ...(emb ? { embedding: emb } : {}),
            metrics,
            provenance: {
              source: f.source,
              ...Object.fromEntries(Object.entries(src.metadata).filter(([k]) => k !== Recipe.PROVENANCE_KEY)),
              ...(recipe ? { [Recipe.PROVENANCE_KEY]: Recipe.encodeRecipe(recipe) } : {}),
            },
          },
        ],
      })
      yield* Console.log(`added ${f.name} (seed ${f.seed}) to ${lib.location}`)
    }).pipe(withLibrary(f.library, { create: true })),
).pipe(Command.withDescription("Add a trained prompt (and its task embedding) to the library."))

const list = Command.make("list", { library: libraryFlag, json }, ({ library, json }) =>
  Effect.gen(function* () {
    const lib = yield* Library
    const l = yield* lib.list
    if (json) return yield* printJson(l)
    yield* Console.log(`${"name".padEnd(24)} ${"task".padEnd(20)} ${"L".padStart(4)} ${"d".padStart(5)} seeds  model`)
    for (const e of l.entries) {
      yield* Console.log(
        `${e.name.padEnd(24)} ${e.task.padEnd(20)} ${String(e.promptLength).padStart(4)} ${String(e.model.dModel).padStart(5)} ${e.seeds.join(",").padEnd(6)} ${e.model.fingerprint}`,
      )
    }
    for (const d of l.damaged) yield* Console.error(`damaged entry ${d.name}: ${d.reason}`)
  }).pipe(withLibrary(library)),
).pipe(Command.withDescription("List the entries (damaged ones are reported and skipped)."))

const show = Command.make("show", { name: Argument.String("name"), library: libraryFlag, json }, ({ name, library, json }) =>
  Effect.gen(function* () {
    const e = yield* (yield* Library).get(name)
    const view = {
      ...e,
      seeds: e.seeds.map((s) => ({
        seed: s.seed,
        source_norm: norm(s.source.data),
        has_embedding: s.embedding !== undefined,
        has_decoder_rows: s.decoderRows !== undefined,
        metrics: s.metrics,
        provenance: s.provenance,
      })),
    }
    yield* json ? printJson(view) : Console.log(JSON.stringify(view, null, 2))
  }).pipe(withLibrary(library)),
).pipe(Command.withDescription("Show one entry."))

const rm = Command.make("rm", { name: Argument.String("name"), library: libraryFlag }, ({ name, library }) =>
  Effect.gen(function* () {
    yield* (yield* Library).remove(name)
    yield* Console.log(`removed ${name}`)
  }).pipe(withLibrary(library)),
).pipe(Command.withDescription("Remove an entry."))

const importCmd = Command.make(
  "import",
  {
    from: Argument.String("peft-adapter-dir|file.npy"),
    library: libraryFlag,
    name: Flag.String("name"),
    model: Flag.String("model").pipe(Flag.optional),
    seed: Flag.Int("seed").pipe(Flag.withDefault(0)),
    task: Flag.String("task").pipe(Flag.optional),
  },
  (f) =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const lib = yield* Library
      let prompt: import("@spot/core").HostTensor<"f32">
      let decoderRows: import("@spot/core").HostTensor<"f32"> | undefined
      let format: string
      if (f.from.endsWith(".npy")) {
        const bytes = yield* fs
          .readFile(f.from)
          .pipe(Effect.mapError((e) => new InputError({ field: f.from, message: e.message })))
        prompt = yield* Effect.fromResult(Interchange.decodeNpy(bytes, f.from))
        format = "npy"
      } else {
        const p = yield* Interchange.readPeftAdapter(f.from)
        prompt = p.prompt
        decoderRows = p.decoderRows
        format = `peft (num_transformer_submodules ${decoderRows ? 2 : 1})`
      }
      const [L, d] = prompt.shape
      const model = yield* modelKeyOf(f.model, d)
      if (!model) return yield* new InputError({ field: f.from, message: `prompt width ${d} does not match the model's d_model` })
      yield* lib.put({
        name: f.name,
        task: Option.getOrElse(f.task, () => f.name),
        description: `imported from ${f.from}`,
        model,
        promptLength: L,
        created: new Date().toISOString(),
        seeds: [
          {
            seed: f.seed,
            source: prompt,
            ...(decoderRows ? { decoderRows } : {}),
            metrics: {},
            provenance: { imported_from: f.from, format },
          },
        ],
      })
      yield* Console.log(`imported ${f.from} as ${f.name} ([${L}, ${d}], ${format})`)
    }).pipe(withLibrary(f.library, { create: true })),
).pipe(Command.withDescription("Import a PEFT prompt-tuning adapter or an official SPoT .npy prompt."))

const exportCmd = Command.make(
  "export",
  {
    name: Argument.String("name"),
    library: libraryFlag,
    format: Flag.Literals("format", ["peft", "npy", "safetensors"] as const),
    out: Flag.String("out"),
    seed: Flag.Int("seed").pipe(Flag.optional),
  },
  (f) =>
    Effect.gen(function* () {
      if (f.format !== "peft") yield* checkOutFile("--out", f.out, [], [f.library])
      const e = yield* (yield* Library).get(f.name)
      const wanted = Option.getOrUndefined(f.seed)
      const s = wanted !== undefined ? e.seeds.find((x) => x.seed === wanted) : e.seeds[0]
      if (!s) return yield* new LibraryError({ library: f.library, entry: f.name, message: "no such seed" })
      if (f.format === "peft")
        yield* Interchange.writePeftAdapter(f.out, { prompt: s.source, ...(s.decoderRows ? { decoderRows: s.decoderRows } : {}) })
      else if (f.format === "npy") {
        const fs = yield* FileSystem.FileSystem
        const tmp = `${f.out}.tmp-${process.pid}`
        yield* fs.writeFile(tmp, Interchange.encodeNpy(s.source)).pipe(Effect.flatMap(() => fs.rename(tmp, f.out)))
      } else
        yield* Safetensors.writeSafetensors(
          f.out,
          { prompt: s.source },
          { format: "spot-prompt/1", task: e.task, seed: String(s.seed) },
        )
      yield* Console.log(`exported ${f.name} (seed ${s.seed}) as ${f.format} to ${f.out}`)
    }).pipe(withLibrary(f.library)),
).pipe(Command.withDescription("Export an entry's source prompt as a PEFT adapter, .npy or safetensors."))

export const library = Command.make("library").pipe(
  Command.withDescription("The prompt library: source prompts keyed by task embeddings."),
  Command.withSubcommands([init, add, list, show, rm, importCmd, exportCmd, copy]),
)
