import { ClusterTransfer, Grid } from "@spot/cluster"
import {
  InputError,
  Library,
  type LibraryEntry,
  type PromptLibrary,
  Recipe,
  Retrieval,
  Safetensors,
  Similarity,
  T5Checkpoint,
  T5Runner,
  Transfer,
} from "@spot/core"
import { Console, Effect, Result } from "effect"
import { Command, Flag } from "effect/cli"
import { backendFlags, backendLayer } from "../backends.ts"
import { dataFlags, loadModelAndTokenizer, loadPlain, loadSplits, modelFlags } from "../common.ts"
import { UsageError } from "../errors.ts"
import { withLibrary } from "../library-store.ts"
import { printJson } from "../output.ts"
import { progressLayer } from "../progress.ts"
import { checkInts, checkNumbers, checkOutFile, tuningIntChecks } from "../validate.ts"

/**
 * The library entries transfer can use: made for this model, readable (a damaged entry is skipped
 * with a warning naming it), of one prompt length (entries that differ are refused, listed, unless
 * `--prompt-length` picks one).
 */
const usableEntries = (lib: PromptLibrary.LibraryStore, key: { fingerprint: string; dModel: number }, wantL: number) =>
  Effect.gen(function* () {
    const listing = yield* lib.list
    for (const d of listing.damaged)
      yield* Console.error(`warning: skipping damaged entry ${d.name} of ${lib.location}: ${d.reason}`)
    const entries = new Map<string, LibraryEntry>()
    for (const e of listing.entries) {
      if (!T5Checkpoint.fingerprintMatches(e.model.fingerprint, key.fingerprint) || e.model.dModel !== key.dModel) continue
      if (wantL > 0 && e.promptLength !== wantL) continue
      const got = yield* Effect.result(lib.get(e.name))
      if (Result.isFailure(got)) {
        yield* Console.error(`warning: skipping damaged entry ${e.name} of ${lib.location}: ${got.failure.message}`)
        continue
      }
      entries.set(e.name, got.success)
    }
    const lengths = new Map<number, string[]>()
    for (const e of entries.values()) lengths.set(e.promptLength, [...(lengths.get(e.promptLength) ?? []), e.name])
    if (lengths.size > 1) {
      return yield* new UsageError({
        field: "--prompt-length",
        message: `the library's entries have different prompt lengths (${[...lengths].map(([l, names]) => `L=${l}: ${names.join(", ")}`).join("; ")}); choose one with --prompt-length`,
      })
    }
    return entries
  })

/** The target's recipe: `--embedding-recipe` when given, else the one the library's entries share, else the default kind. */
const targetRecipe = (
  f: { embeddingRecipe: string; embeddingSteps: number; lr: number; batch: number },
  entries: readonly LibraryEntry[],
) =>
  Effect.gen(function* () {
    const kinds: readonly string[] = Recipe.RECIPE_KINDS
    const ofKind = (kind: string) =>
      (kind === "early-checkpoint" ? Recipe.earlyCheckpoint : Recipe.uniformInit)({
        steps: f.embeddingSteps,
        lr: f.lr,
        batch: f.batch,
      })
    if (f.embeddingRecipe !== "")
      return {
        from: "--embedding-recipe",
        recipe: kinds.includes(f.embeddingRecipe)
          ? ofKind(f.embeddingRecipe)
          : yield* Effect.fromResult(Recipe.decodeRecipe(f.embeddingRecipe, "--embedding-recipe")),
      }
    const shared = yield* Recipe.commonRecipe(entries)
    return shared
      ? { from: "the library's entries", recipe: shared }
      : { from: `the default (${Recipe.DEFAULT_KIND})`, recipe: ofKind(Recipe.DEFAULT_KIND) }
  })

export const transfer = Command.make(
  "transfer",
  {
    ...modelFlags,
    ...dataFlags,
    train: Flag.String("train").pipe(Flag.withDescription("the target's training file or Hub split org/dataset[@rev]:split")),
    valid: Flag.String("valid").pipe(Flag.withDescription("the target's validation file or Hub split")),
    task: Flag.String("task").pipe(
      Flag.withDefault(""),
      Flag.withDescription(
        "read the target files with a ready-made definition (glue/rte, superglue/cb, …): T5's format and metrics",
      ),
    ),
    taskless: Flag.Boolean("taskless").pipe(Flag.withDefault(false)),
    library: Flag.String("library"),
    strategy: Flag.Literals("strategy", ["best-of-top-k", "top-k-weighted-average", "top-k-multi-task", "oracle"] as const).pipe(
      Flag.withDefault("best-of-top-k" as const),
    ),
    k: Flag.Int("k").pipe(Flag.withDefault(3)),
    similarity: Flag.Literals("similarity", ["per-token-average-cosine", "cosine-of-average"] as const).pipe(
      Flag.withDefault("per-token-average-cosine" as const),
    ),
    sourceData: Flag.String("source-data").pipe(
      Flag.withDefault(""),
      Flag.withDescription("task=file.jsonl,… (needed by top-k-multi-task)"),
    ),
    embeddingRecipe: Flag.String("embedding-recipe").pipe(
      Flag.withDefault(""),
      Flag.withDescription(
        "how to embed the target: early-checkpoint | uniform-init (with --embedding-steps, --lr, --batch) or a recipe's JSON; default: the recipe the library's entries were made with",
      ),
    ),
    embeddingSteps: Flag.Int("embedding-steps").pipe(Flag.withDefault(100)),
    allowMixedRecipes: Flag.Boolean("allow-mixed-recipes").pipe(
      Flag.withDefault(false),
      Flag.withDescription("compare with entries whose embeddings were made by another (or no recorded) recipe"),
    ),
    embeddingOut: Flag.String("embedding-out").pipe(
      Flag.withDefault(""),
      Flag.withDescription("also write the target's task embedding here (safetensors, with its recipe)"),
    ),
    steps: Flag.Int("steps").pipe(Flag.withDefault(1000)),
    seed: Flag.Int("seed").pipe(Flag.withDefault(0)),
    batch: Flag.Int("batch").pipe(Flag.withDefault(32)),
    lr: Flag.Finite("lr").pipe(Flag.withDefault(0.3)),
    evalEvery: Flag.Int("eval-every").pipe(Flag.withDefault(100)),
    maxSource: Flag.Int("max-source").pipe(Flag.withDefault(512)),
    maxTarget: Flag.Int("max-target").pipe(Flag.withDefault(32)),
    out: Flag.String("out"),
    promptLength: Flag.Int("prompt-length").pipe(
      Flag.withDefault(0),
      Flag.withDescription("use only library entries of this prompt length (needed when entries differ; 0: they must agree)"),
    ),
    cluster: Flag.String("cluster").pipe(
      Flag.withDefault(""),
      Flag.withDescription("postgres://… of a cluster: the plan's runs are trained in parallel by its `spot worker`s"),
    ),
    ...backendFlags,
    json: Flag.Boolean("json").pipe(Flag.withDefault(false)),
  },
  (f) =>
    Effect.gen(function* () {
      yield* checkInts([
        ["--k", f.k, 1, 10_000],
        ["--embedding-steps", f.embeddingSteps, 1, 100_000_000],
        ...tuningIntChecks(f),
        ["--prompt-length", f.promptLength, 0, 100_000],
      ])
      yield* checkNumbers([["--lr", f.lr, 0, true]])
      const sourceFiles = f.sourceData.split(",").map((x) => x.split("=")[1] ?? "")
      yield* checkOutFile("--out", f.out, [...f.train.split(","), f.valid, ...sourceFiles], [f.library])
      if (f.embeddingOut !== "")
        yield* checkOutFile(
          "--embedding-out",
          f.embeddingOut,
          [...f.train.split(","), f.valid, ...sourceFiles, f.out],
          [f.library],
        )
      const t0 = performance.now()
      const { model, tokenizer } = yield* loadModelAndTokenizer(f.model, f.tokenizer)
      const { train, valid } = yield* loadSplits(f.train, f.valid, f.task, f)
      const lib = yield* Library
      const key = T5Checkpoint.modelKey(model)
      const entries = yield* usableEntries(lib, key, f.promptLength)
      const L = [...entries.values()][0]?.promptLength
      if (L === undefined) {
        return yield* new InputError({
          field: "--library",
          message: `${f.library} holds no usable entry for this model (${key.fingerprint}, d_model ${key.dModel}${f.promptLength > 0 ? `, prompt length ${f.promptLength}` : ""})`,
        })
      }
      const sim = Similarity.similarityNamed(f.similarity) as Similarity.Similarity
      const runner = yield* T5Runner.makeRunner(model)
      const env = { model, tokenizer, runner }
      const opts = {
        steps: f.steps,
        batchSize: f.batch,
        lr: f.lr,
        evalEvery: f.evalEvery,
        maxSource: f.maxSource,
        maxTarget: f.maxTarget,
        promptLength: L,
      }
      // 1. the target's task embedding, by the library's recipe (or the one asked for), checked against every entry
      const recipe = yield* targetRecipe(f, [...entries.values()])
      yield* Recipe.checkRecipes(recipe.recipe, recipe.from, [...entries.values()], f.allowMixedRecipes)
      const embedding = yield* Transfer.embed(env, recipe.recipe, train, valid, f.seed, opts)
      if (f.embeddingOut !== "")
        yield* Safetensors.writeSafetensors(
          f.embeddingOut,
          { prompt: embedding },
          {
            format: "spot-prompt/1",
            seed: String(f.seed),
            model_fingerprint: key.fingerprint,
            [Recipe.PROVENANCE_KEY]: Recipe.encodeRecipe(recipe.recipe),
          },
        )
      // 2. retrieve and plan
      const strategy = Retrieval.STRATEGIES.find((s) => s.name === f.strategy) as Retrieval.Strategy
      const plan = yield* Effect.fromResult(
        strategy.plan(Transfer.candidatesOf([...entries.values()], sim), {
          target: { summary: sim.summary(embedding), model: key, promptLength: L },
          k: f.k,
          similarity: sim,
        }),
      )
      // 3. source data for mixtures
      const sources = new Map<string, import("@spot/core").Dataset>()
      for (const pair of f.sourceData.split(",").filter((x) => x !== "")) {
        const [task, file] = pair.split("=")
        sources.set(task, yield* loadPlain(file, task))
      }
      // 4. train and evaluate: here, run after run, or each run a cell of the cluster, in parallel
      const target = { train: train[0], valid }
      const fingerprint = key.fingerprint
      const r =
        f.cluster === ""
          ? yield* Transfer.executePlan(env, plan, entries, sources, target, f.seed, opts)
          : yield* ClusterTransfer.runClusterTransfer(env, plan, entries, sources, target, f.seed, opts, fingerprint, (s) =>
              Console.error(Grid.waitLine(s, fingerprint)),
            ).pipe(Effect.provide(Grid.clientLayer(f.cluster, fingerprint)))
      if (!r.best) return yield* new InputError({ field: "--strategy", message: "the plan trained nothing" })
      yield* Safetensors.writeSafetensors(
        f.out,
        { prompt: r.best.prompt },
        {
          format: "spot-prompt/1",
          strategy: plan.strategy,
          run: r.best.label,
          metric: String(r.best.score),
          seed: String(f.seed),
          model_fingerprint: key.fingerprint,
        },
      )
      const res = {
        strategy: plan.strategy,
        similarity: plan.similarity,
        k: plan.kEffective,
        embedding_recipe: Recipe.encodeRecipe(recipe.recipe),
        retrieved: plan.ranking.slice(0, plan.kEffective).map((x) => ({ ...x.candidate, similarity: x.similarity })),
        runs: r.runs.map((x) => ({ label: x.label, score: x.score })),
        best: { label: r.best.label, score: r.best.score },
        out: f.out,
        ...("id" in r ? { cluster: { transfer: r.id } } : {}),
        seconds: (performance.now() - t0) / 1000,
      }
      if (f.json) return yield* printJson(res)
      yield* Console.log(`retrieved (${plan.similarity}):`)
      for (const x of res.retrieved) yield* Console.log(`  ${x.task}#${x.seed}  ${x.similarity.toFixed(4)}`)
      for (const x of res.runs) yield* Console.log(`run ${x.label}: ${x.score.toFixed(4)}`)
      yield* Console.log(`best: ${res.best.label} (${res.best.score.toFixed(4)}) → ${f.out}`)
    }).pipe(withLibrary(f.library), Effect.provide(backendLayer(f)), Effect.provide(progressLayer(f.json))),
).pipe(Command.withDescription("Targeted SPoT for one target: embed → retrieve → plan → train → evaluate."))
