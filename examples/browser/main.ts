/**
 * The browser example: load the micro T5 with fetch, compute the target task's embedding on
 * WebGPU, rank the bundled library by per-token average cosine, then prompt-tune from the
 * retrieved source prompt (or, with `?init=shared`, from the shared initialisation), drawing the
 * loss as it falls. URL parameters: task, steps, batch, embed (task-embedding steps), init, auto.
 */
import { WebGpuBackend, type WebGpuBackendShape } from "@spot/backend-webgpu"
import { Backend, Progress, type ProgressEvent, T5Checkpoint, T5Runner, Tokenizers, Transfer, Tuning } from "@spot/core"
import { Demo, Synthetic } from "@spot/experiments"
import { Effect, FileSystem, Layer, Path } from "effect"
import { type BundledLibrary, decodeLibrary, retrieve } from "./library.ts"

const q = new URLSearchParams(location.search)
const cfg = {
  task: q.get("task") ?? "food-sentiment",
  steps: Number(q.get("steps") ?? 24),
  batch: Number(q.get("batch") ?? 16),
  embed: Number(q.get("embed") ?? 10),
  init: q.get("init") === "shared" ? "shared" : "retrieved",
  model: q.get("model") ?? "./models/micro-t5",
}

/** What a test (or a curious user) can read from the console: `window.spot`. */
const state = {
  state: "idle" as "idle" | "running" | "done" | "error",
  losses: [] as number[],
  ranking: [] as { task: string; seed: number; score: number }[],
  best: Number.NaN,
  error: "",
}
;(globalThis as { spot?: typeof state }).spot = state

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const status = (s: string) => {
  $("status").textContent = s
}

const drawCurve = () => {
  const xs = state.losses
  const max = Math.max(...xs, 1e-6)
  const pts = xs.map((l, i) => `${(i / Math.max(1, cfg.steps - 1)) * 620 + 10},${230 - (l / max) * 220}`)
  $("line").setAttribute("points", pts.join(" "))
}

const progress = Layer.succeed(Progress, {
  report: (e: ProgressEvent) =>
    Effect.sync(() => {
      if (e.kind !== "step") return
      ;($("bar") as HTMLProgressElement).value = e.step / e.total
      if (state.state === "running" && e.total === cfg.steps) {
        state.losses.push(e.loss)
        drawCurve()
        status(`training: step ${e.step}/${e.total}, loss ${e.loss.toFixed(4)}`)
      }
    }),
})

const fetchJson = (url: string) =>
  Effect.tryPromise({
    try: () => fetch(url).then((r) => (r.ok ? r.json() : Promise.reject(new Error(`${url}: HTTP ${r.status}`)))),
    catch: (e) => new Error(String(e)),
  })
const fetchBytes = (url: string) =>
  Effect.tryPromise({
    try: () => fetch(url).then((r) => (r.ok ? r.arrayBuffer() : Promise.reject(new Error(`${url}: HTTP ${r.status}`)))),
    catch: (e) => new Error(String(e)),
  })

const program = Effect.gen(function* () {
  const backend = (yield* Backend) as WebGpuBackendShape
  $("adapter").textContent = `adapter: ${backend.adapter.vendor} ${backend.adapter.architecture} (${backend.adapter.source})`
  status("loading the model")
  const config = yield* fetchJson(`${cfg.model}/config.json`)
  const bytes = yield* fetchBytes(`${cfg.model}/model.safetensors`)
  const model = yield* Effect.fromResult(T5Checkpoint.modelFromBytes(config, new Uint8Array(bytes), cfg.model))
  const runner = yield* T5Runner.makeRunner(model)
  const env = { model, tokenizer: Tokenizers.byteTokenizer, runner }
  const task = Synthetic.taskNamed(cfg.task)
  if (!task) return yield* Effect.fail(new Error(`unknown task ${cfg.task}`))
  const data = { train: Synthetic.generate(task, "train", 256), valid: Synthetic.generate(task, "valid", 64) }
  const tune = { ...Demo.DEFAULT_DEMO.tune, batchSize: cfg.batch }

  status(`task embedding: ${cfg.embed} steps from the shared initialisation`)
  const library = decodeLibrary((yield* fetchJson("./library.json")) as BundledLibrary)
  const embedding = yield* Transfer.taskEmbedding(env, [data.train], data.valid, 0, { ...tune, steps: cfg.embed })
  const plan = yield* Effect.fromResult(retrieve(library, embedding, model, tune.promptLength))
  state.ranking = plan.ranking.map((r) => ({ task: r.candidate.task, seed: r.candidate.seed, score: r.similarity }))
  $("ranking").innerHTML = state.ranking.map((r) => `<li>${r.task} #${r.seed}: ${r.score.toFixed(3)}</li>`).join("")

  state.state = "running"
  const opts = { ...tune, steps: cfg.steps, evalEvery: cfg.steps }
  const score =
    cfg.init === "shared"
      ? (yield* Tuning.tunePrompt(env, [data.train], data.valid, Tuning.sharedInit(env, tune.promptLength, 0), 0, opts)).bestScore
      : ((yield* Transfer.executePlan(env, plan, new Map(library.map((e) => [e.name, e])), new Map(), data, 0, opts)).best
          ?.score ?? Number.NaN)
  state.best = score
  state.state = "done"
  status(`done: validation accuracy ${(100 * score).toFixed(1)} % after ${cfg.steps} steps (init: ${cfg.init})`)
})

const start = () => {
  if (state.state === "running") return
  state.losses = []
  // checkpoints stay in memory here: no file system (a no-op one satisfies the trainer's type)
  const services = Layer.mergeAll(WebGpuBackend.layer(), progress, FileSystem.layerNoop({}), Path.layer)
  Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(services))).catch((e: unknown) => {
    state.state = "error"
    state.error = String(e)
    status(`error: ${state.error}`)
    console.error(e)
  })
}

for (const t of Synthetic.SUITE) {
  const o = document.createElement("option")
  o.value = o.textContent = t.def.name
  o.selected = t.def.name === cfg.task
  $("task").appendChild(o)
}
$("task").addEventListener("change", (e) => {
  cfg.task = (e.target as HTMLSelectElement).value
})
$("run").addEventListener("click", start)
if (q.has("auto")) start()
