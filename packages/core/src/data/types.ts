/** The plain data types of the data layer: records, task definitions, examples, datasets. */
import type { MetricName } from "./metric-names.ts"

export type RawRecord = Readonly<Record<string, unknown>>

export interface TaskDef {
  readonly name: string
  /** Input template: `{field}` is replaced by the record's field. */
  readonly input: string
  /** Target template (free-form tasks) or the label field (`{label}`) with a verbalizer. */
  readonly target: string
  /** Label value → target text. Makes the task a classification task. */
  readonly verbalizer?: Readonly<Record<string, string>>
  readonly metrics: readonly MetricName[]
  /** Label treated as positive by F1 / Matthews. */
  readonly positive?: string
  /**
   * A T5 preprocessor over Hugging Face GLUE/SuperGLUE records (`data/t5-formats.ts`); when present it
   * replaces the templates, and scoring follows T5's postprocessor for it (`train/scoring.ts`).
   */
  readonly format?: T5Format
}

export interface Example {
  readonly input: string
  readonly target: string
  /** Index into the verbalizer's candidates for classification tasks. */
  readonly label?: number
  /** The group an example is scored in (MultiRC: its question; ReCoRD: its passage/query). */
  readonly group?: string
  /** Every correct answer (ReCoRD: scored by the best of them). */
  readonly answers?: readonly string[]
  /** WSC (T5's `wsc_simple`): whether `target`, the candidate referent, is the pronoun's referent. */
  readonly referentCorrect?: boolean
}

export interface Dataset {
  readonly task: TaskDef
  readonly file: string
  readonly examples: readonly Example[]
  /** Target strings of the classes (classification only), in verbalizer order. */
  readonly candidates?: readonly string[]
}

/** How a T5-formatted task turns a record into examples (see `t5-formats.ts`). */
export type T5Format =
  | {
      /** `glue()`: the benchmark name, then `key: value` for each feature (in `features` order). */
      readonly kind: "glue"
      readonly benchmark: string
      /** Output feature names, in T5's order (sorted, unless T5 passes `feature_names`). */
      readonly features: readonly string[]
      /** Output feature → record field (T5's `rekey`, e.g. AX-b's sentence1 → premise). */
      readonly rekey?: Readonly<Record<string, string>>
      /** Label names by class id (Hugging Face `ClassLabel` order). */
      readonly labels: readonly string[]
      readonly taskless?: boolean
    }
  | { readonly kind: "stsb"; readonly taskless?: boolean }
  | { readonly kind: "record"; readonly taskless?: boolean }
  | {
      readonly kind: "wsc_simple"
      /** T5's training variant (`super_glue_wsc_v102_simple_train`): only examples whose referent is correct. */
      readonly correctReferentOnly: boolean
      readonly taskless?: boolean
    }
  /** T5's eval-only `wnli_simple`: a WNLI pair rewritten in WSC form (scored like `wsc_simple`). */
  | { readonly kind: "wnli_simple"; readonly taskless?: boolean }
