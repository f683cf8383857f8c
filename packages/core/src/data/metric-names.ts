/**
 * The names of the evaluation metrics a task can declare. They live in the data layer because task
 * definitions name them; the metric functions themselves are in `train/metrics.ts`, which imports this.
 */
export type MetricName = "accuracy" | "f1" | "macro_f1" | "matthews" | "pearson" | "spearman" | "exact_match"
