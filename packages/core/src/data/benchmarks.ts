/**
 * Ready-made definitions of the GLUE and SuperGLUE tasks the paper uses, for users who have the
 * files (the Hugging Face `datasets` JSONL exports: integer labels, the field names below), in the
 * T5 text-to-text style. And the benchmark averages: a task's score is the mean of its metrics, a
 * benchmark's the mean of its tasks' scores (as the GLUE and SuperGLUE leaderboards compute them).
 */

import type { TaskDef } from "./dataset.ts"
import type { MetricName } from "./metric-names.ts"

const cls = (
  name: string,
  input: string,
  labels: readonly string[],
  metrics: readonly MetricName[],
  positive?: string,
): TaskDef => ({
  name,
  input,
  target: "{label}",
  verbalizer: Object.fromEntries(labels.map((l, i) => [String(i), l])),
  metrics,
  ...(positive ? { positive } : {}),
})

export const GLUE: Readonly<Record<string, TaskDef>> = {
  cola: cls("cola", "cola sentence: {sentence}", ["unacceptable", "acceptable"], ["matthews"], "acceptable"),
  sst2: cls("sst2", "sst2 sentence: {sentence}", ["negative", "positive"], ["accuracy"]),
  mrpc: cls(
    "mrpc",
    "mrpc sentence1: {sentence1} sentence2: {sentence2}",
    ["not_equivalent", "equivalent"],
    ["f1", "accuracy"],
    "equivalent",
  ),
  qqp: cls(
    "qqp",
    "qqp question1: {question1} question2: {question2}",
    ["not_duplicate", "duplicate"],
    ["f1", "accuracy"],
    "duplicate",
  ),
  stsb: {
    name: "stsb",
    input: "stsb sentence1: {sentence1} sentence2: {sentence2}",
    target: "{label}",
    metrics: ["pearson", "spearman"],
  },
  mnli: cls("mnli", "mnli hypothesis: {hypothesis} premise: {premise}", ["entailment", "neutral", "contradiction"], ["accuracy"]),
  qnli: cls("qnli", "qnli question: {question} sentence: {sentence}", ["entailment", "not_entailment"], ["accuracy"]),
  rte: cls("rte", "rte sentence1: {sentence1} sentence2: {sentence2}", ["entailment", "not_entailment"], ["accuracy"]),
}

export const SUPERGLUE: Readonly<Record<string, TaskDef>> = {
  boolq: cls("boolq", "boolq question: {question} passage: {passage}", ["False", "True"], ["accuracy"]),
  cb: cls(
    "cb",
    "cb hypothesis: {hypothesis} premise: {premise}",
    ["entailment", "contradiction", "neutral"],
    ["macro_f1", "accuracy"],
  ),
  copa: cls(
    "copa",
    "copa choice1: {choice1} choice2: {choice2} premise: {premise} question: {question}",
    ["choice1", "choice2"],
    ["accuracy"],
  ),
  multirc: cls(
    "multirc",
    "multirc question: {question} answer: {answer} paragraph: {paragraph}",
    ["False", "True"],
    ["f1", "exact_match"],
    "True",
  ),
  wic: cls("wic", "wic sentence1: {sentence1} sentence2: {sentence2} word: {word}", ["False", "True"], ["accuracy"]),
  wsc: cls("wsc", "wsc text: {text} span1: {span1_text} span2: {span2_text}", ["False", "True"], ["accuracy"]),
  rte: cls("rte", "rte hypothesis: {hypothesis} premise: {premise}", ["entailment", "not_entailment"], ["accuracy"]),
}

/** Mean of a task's metrics (e.g. MRPC: (F1 + accuracy) / 2). */
export const taskScore = (metrics: Readonly<Record<string, number>>): number => {
  const v = Object.values(metrics).filter(Number.isFinite)
  return v.length === 0 ? Number.NaN : v.reduce((a, b) => a + b, 0) / v.length
}

/** Mean of task scores over the tasks present. */
export const benchmarkScore = (perTask: Readonly<Record<string, Readonly<Record<string, number>>>>): number => {
  const scores = Object.values(perTask).map(taskScore).filter(Number.isFinite)
  return scores.length === 0 ? Number.NaN : scores.reduce((a, b) => a + b, 0) / scores.length
}
