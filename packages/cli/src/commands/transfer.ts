import {
  DirectoryLibrary,
  InputError,
  Library,
  type LibraryEntry,
  Retrieval,
  Safetensors,
  Similarity,
  T5Checkpoint,
  T5Runner,
  Transfer,
  Tuning,
} from "@spot/core"
import { Console, Effect } from "effect"
import { Command, Flag } from "effect/cli"
import { backendFlags, backendLayer } from "../backends.ts"
import { loadModelAndTokenizer, loadPlain, loadSplits, modelFlags } from "../common.ts"
import { printJson } from "../output.ts"
import { progressLayer } from "../progress.ts"

export const transfer = Command.make(
  "transfer",
  {
    ...modelFlags,
    train: Flag.String("train"),
    valid: Flag.String("valid"),
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
    embeddingSteps: Flag.Int("embedding-steps").pipe(Flag.withDefault(100)),
    steps: Flag.Int("steps").pipe(Flag.withDefault(1000)),
    seed: Flag.Int("seed").pipe(Flag.withDefault(0)),
    batch: Flag.Int("batch").pipe(Flag.withDefault(32)),
    lr: Flag.Finite("lr").pipe(Flag.withDefault(0.3)),
    evalEvery: Flag.Int("eval-every").pipe(Flag.withDefault(100)),
    maxSource: Flag.Int("max-source").pipe(Flag.withDefault(512)),
    maxTarget: Flag.Int("max-target").pipe(Flag.withDefault(32)),
    out: Flag.String("out"),
    ...backendFlags,
    json: Flag.Boolean("json").pipe(Flag.withDefault(false)),
  },
  (f) =>
    Effect.gen(function* () {
      const t0 = performance.now()
      const { model, tokenizer } = yield* loadModelAndTokenizer(f.model, f.tokenizer)
      const { train, valid } = yield* loadSplits(f.train, f.valid)
      const lib = yield* Library
      const listing = yield* lib.list
      const key = T5Checkpoint.modelKey(model)
      const entries = new Map<string, LibraryEntry>()
      for (const e of listing.entries) {
        if (T5Checkpoint.fingerprintMatches(e.model.fingerprint, key.fingerprint) && e.model.dModel === key.dModel) {
          entries.set(e.name, yield* lib.get(e.name))
        }
      }
      const L = [...entries.values()][0]?.promptLength
      if (L === undefined) {
        return yield* new InputError({
          field: "--library",
          message: `${f.library} holds no entry for this model (${key.fingerprint}, d_model ${key.dModel})`,
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
      // 1. the target's task embedding: a few steps from the shared init of this seed
      const emb = yield* Tuning.tunePrompt(env, train, valid, Tuning.sharedInit(env, L, f.seed), f.seed, {
        ...opts,
        steps: f.embeddingSteps,
        evalEvery: f.embeddingSteps,
      })
      // 2. retrieve and plan
      const strategy = Retrieval.STRATEGIES.find((s) => s.name === f.strategy) as Retrieval.Strategy
      const plan = yield* Effect.fromResult(
        strategy.plan(Transfer.candidatesOf([...entries.values()], sim), {
          target: { summary: sim.summary(emb.last), model: key, promptLength: L },
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
      // 4. train and evaluate
      const r = yield* Transfer.executePlan(env, plan, entries, sources, { train: train[0], valid }, f.seed, opts)
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
        retrieved: plan.ranking.slice(0, plan.kEffective).map((x) => ({ ...x.candidate, similarity: x.similarity })),
        runs: r.runs.map((x) => ({ label: x.label, score: x.score })),
        best: { label: r.best.label, score: r.best.score },
        out: f.out,
        seconds: (performance.now() - t0) / 1000,
      }
      if (f.json) return yield* printJson(res)
      yield* Console.log(`retrieved (${plan.similarity}):`)
      for (const x of res.retrieved) yield* Console.log(`  ${x.task}#${x.seed}  ${x.similarity.toFixed(4)}`)
      for (const x of res.runs) yield* Console.log(`run ${x.label}: ${x.score.toFixed(4)}`)
      yield* Console.log(`best: ${res.best.label} (${res.best.score.toFixed(4)}) → ${f.out}`)
    }).pipe(
      Effect.provide(DirectoryLibrary.layer(f.library)),
      Effect.provide(backendLayer(f)),
      Effect.provide(progressLayer(f.json)),
    ),
).pipe(Command.withDescription("Targeted SPoT for one target: embed → retrieve → plan → train → evaluate."))
