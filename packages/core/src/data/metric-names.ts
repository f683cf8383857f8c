/**
 * The names of the evaluation metrics a task can declare. They live in the data layer because task
 * definitions name them; the metric functions themselves are in `train/metrics.ts`, which imports this.
 */
export type MetricName =
  | "accuracy"
  | "f1"
  | "macro_f1"
  | "matthews"
  | "pearson"
  | "spearman"
  | "exact_match"
  /** MultiRC: exact match of all answers of a question, averaged over questions. */
  | "group_exact_match"
  /** ReCoRD: SQuAD exact match / token F1, best over the answers, one per passage/query. */
  | "squad_em"
  | "squad_f1"

/** A task's score: the mean of its (finite) metrics, e.g. MRPC (F1 + accuracy) / 2. */
export const taskScore = (metrics: Readonly<Record<string, number>>): number => {
  const v = Object.values(metrics).filter(Number.isFinite)
  return v.length === 0 ? Number.NaN : v.reduce((a, b) => a + b, 0) / v.length
}
