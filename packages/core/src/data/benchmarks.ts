/**
 * GLUE and SuperGLUE as T5 defines them (t5/data/glue_utils.py, tasks.py): each task reads the
 * Hugging Face `glue` / `super_glue` records (see `t5-formats.ts`) through T5's preprocessor and is
 * scored by T5's metrics. `taskPreset("superglue/boolq")` is the one entry point the CLI commands use.
 * Benchmark averages follow T5's `compute_avg_glue`: a task's score is the mean of its metrics, a
 * benchmark's the mean over all of its tasks (computed only when every one is present).
 */
import { Result } from "effect"
import { InputError } from "../errors.ts"
import type { TaskDef } from "./dataset.ts"
import type { MetricName } from "./metric-names.ts"
import { taskScore as meanOfMetrics } from "./metric-names.ts"
import type { T5Format } from "./t5-formats.ts"

const TF = ["False", "True"] as const
const NLI3 = ["entailment", "neutral", "contradiction"] as const
const NLI2 = ["entailment", "not_entailment"] as const

const glueTask = (
  name: string,
  labels: readonly string[],
  features: readonly string[],
  metrics: readonly MetricName[],
  extra: { benchmark?: string; rekey?: Readonly<Record<string, string>> } = {},
): TaskDef => {
  const benchmark = extra.benchmark ?? name
  const format: T5Format = { kind: "glue", benchmark, features, labels, ...(extra.rekey ? { rekey: extra.rekey } : {}) }
  return {
    name,
    input: [benchmark, ...features.map((f) => `${f}: {${extra.rekey?.[f] ?? f}}`)].join(" "),
    target: "{label}",
    verbalizer: Object.fromEntries(labels.map((l, i) => [String(i), l])),
    metrics,
    format,
    ...(labels.length === 2 ? { positive: labels[1] } : {}),
  }
}

const sorted = (...xs: string[]) => [...xs].sort()

/** GLUE (`glue_{name}_v002`); WNLI in `glue()` format (T5 trains on WSC/DPR instead and leaves it out of the average). */
export const GLUE: Readonly<Record<string, TaskDef>> = {
  cola: glueTask("cola", ["unacceptable", "acceptable"], ["sentence"], ["matthews"]),
  sst2: glueTask("sst2", ["negative", "positive"], ["sentence"], ["accuracy"]),
  mrpc: glueTask("mrpc", ["not_equivalent", "equivalent"], sorted("sentence1", "sentence2"), ["f1", "accuracy"]),
  qqp: glueTask("qqp", ["not_duplicate", "duplicate"], sorted("question1", "question2"), ["f1", "accuracy"]),
  stsb: {
    name: "stsb",
    input: "stsb sentence1: {sentence1} sentence2: {sentence2}",
    target: "round(label·5)/5, one decimal",
    metrics: ["pearson", "spearman"],
    format: { kind: "stsb" },
  },
  mnli: glueTask("mnli", NLI3, sorted("premise", "hypothesis"), ["accuracy"]),
  qnli: glueTask("qnli", NLI2, sorted("question", "sentence"), ["accuracy"]),
  rte: glueTask("rte", NLI2, sorted("sentence1", "sentence2"), ["accuracy"]),
  wnli: glueTask("wnli", ["not_entailment", "entailment"], sorted("sentence1", "sentence2"), ["accuracy"]),
  /** T5's eval-only `glue_wnli_v002_simple_eval`: WNLI rewritten in WSC form, scored as WSC. */
  wnli_simple: {
    name: "wnli_simple",
    input: "wsc: {sentence1} with the pronoun matching {sentence2} marked *…*",
    target: "the words of {sentence2} in the pronoun's place",
    metrics: ["accuracy"],
    format: { kind: "wnli_simple" },
  },
  /** The diagnostic set, cast as MNLI. */
  ax: glueTask("ax", NLI3, sorted("premise", "hypothesis"), ["accuracy"], { benchmark: "mnli" }),
}

const wsc = (correctReferentOnly: boolean): TaskDef => ({
  name: "wsc",
  input: "wsc: {text} with the pronoun {span2_text} marked *…*",
  target: "{span1_text}",
  metrics: ["accuracy"],
  format: { kind: "wsc_simple", correctReferentOnly },
})

/** SuperGLUE (`super_glue_{name}_v102`; WSC as `wsc_simple`, its evaluation variant). */
export const SUPERGLUE: Readonly<Record<string, TaskDef>> = {
  boolq: glueTask("boolq", TF, sorted("question", "passage"), ["accuracy"]),
  cb: glueTask("cb", ["entailment", "contradiction", "neutral"], sorted("premise", "hypothesis"), ["macro_f1", "accuracy"]),
  copa: glueTask("copa", ["choice1", "choice2"], sorted("premise", "choice1", "choice2", "question"), ["accuracy"]),
  multirc: glueTask("multirc", TF, ["question", "answer", "paragraph"], ["f1", "group_exact_match"]),
  record: {
    name: "record",
    input: "record query: {query} entities: {entities, …} passage: {passage}",
    target: "each of {answers}",
    metrics: ["squad_f1", "squad_em"],
    format: { kind: "record" },
  },
  rte: glueTask("rte", NLI2, sorted("premise", "hypothesis"), ["accuracy"]),
  wic: glueTask("wic", TF, ["sentence1", "sentence2", "word"], ["accuracy"]),
  wsc: wsc(false),
  /** Diagnostics, cast as RTE (AX-b rekeyed: sentence1 → premise, sentence2 → hypothesis). */
  axb: glueTask("axb", NLI2, ["hypothesis", "premise"], ["accuracy"], {
    benchmark: "rte",
    rekey: { premise: "sentence1", hypothesis: "sentence2" },
  }),
  axg: glueTask("axg", NLI2, sorted("premise", "hypothesis"), ["accuracy"], { benchmark: "rte" }),
}

export interface PresetOptions {
  /** The prompt-tuning code's `taskless_…` tasks: no task-name word at the start of the input. */
  readonly taskless?: boolean
  /** `train`: T5's training variant (WSC keeps only examples whose referent is correct). Default `eval`. */
  readonly split?: "train" | "eval"
}

/** Every preset name `taskPreset` accepts. */
export const presetNames = (): string[] => [
  ...Object.keys(GLUE).map((k) => `glue/${k}`),
  ...Object.keys(SUPERGLUE).map((k) => `superglue/${k}`),
]

/**
 * A ready-made task: `glue/<task>` or `superglue/<task>` (also `super_glue/…`; `glue/mnli_matched`,
 * `glue/mnli_mismatched` are MNLI's validation splits, same format).
 */
export const taskPreset = (name: string, options: PresetOptions = {}): Result.Result<TaskDef, InputError> => {
  const [bench, task = ""] = name.split("/")
  const key = task.replace(/^mnli_(mis)?matched$/, "mnli").replace(/^wsc\.fixed$/, "wsc")
  const table = bench === "glue" ? GLUE : bench === "superglue" || bench === "super_glue" ? SUPERGLUE : undefined
  const base = table && Object.hasOwn(table, key) ? table[key] : undefined
  if (!base)
    return Result.fail(new InputError({ field: "--task", message: `unknown task ${name}; known: ${presetNames().join(", ")}` }))
  const def = base.format?.kind === "wsc_simple" ? wsc(options.split === "train") : base
  if (!options.taskless || !def.format) return Result.succeed(def)
  return Result.succeed({
    ...def,
    name: `taskless_${def.name}`,
    input: def.input.replace(/^[^ ]* /, ""),
    format: { ...def.format, taskless: true },
  })
}

/** Mean of a task's metrics (e.g. MRPC: (F1 + accuracy) / 2). */
export const taskScore = meanOfMetrics

/** Mean of task scores over the tasks present. */
export const benchmarkScore = (perTask: Readonly<Record<string, Readonly<Record<string, number>>>>): number => {
  const scores = Object.values(perTask).map(taskScore).filter(Number.isFinite)
  return scores.length === 0 ? Number.NaN : scores.reduce((a, b) => a + b, 0) / scores.length
}

/** The tasks of T5's averages (MNLI: matched and mismatched, one group). */
export const AVERAGED = {
  glue: ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte"],
  superglue: ["boolq", "cb", "copa", "multirc", "record", "rte", "wic", "wsc"],
} as const

/**
 * T5's "Average GLUE/SuperGLUE Score": every task of the benchmark must be present (GLUE's MNLI as
 * `mnli_matched` and `mnli_mismatched`, whose accuracies are averaged as one task, or as `mnli`); a
 * missing one is an error naming it.
 */
export const benchmarkAverage = (
  benchmark: keyof typeof AVERAGED,
  perTask: Readonly<Record<string, Readonly<Record<string, number>>>>,
): Result.Result<number, InputError> => {
  const scores: number[] = []
  const missing: string[] = []
  for (const t of AVERAGED[benchmark]) {
    const m = perTask[t]
    const mm = benchmark === "glue" && t === "mnli" ? [perTask.mnli_matched, perTask.mnli_mismatched] : undefined
    if (m) scores.push(taskScore(m))
    else if (mm?.[0] && mm[1]) scores.push(taskScore({ m: taskScore(mm[0]), mm: taskScore(mm[1]) }))
    else missing.push(t === "mnli" ? "mnli (or mnli_matched + mnli_mismatched)" : t)
  }
  return missing.length > 0
    ? Result.fail(new InputError({ field: benchmark, message: `the average needs every task; missing: ${missing.join(", ")}` }))
    : Result.succeed(scores.reduce((a, b) => a + b, 0) / scores.length)
}
