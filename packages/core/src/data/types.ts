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

/** Text budgets: rendered inputs and targets are cut to this many units (see `truncateUnits`). */
export interface TextBudget {
  readonly input?: number
  readonly target?: number
}

/**
 * A JSONL training set indexed, not loaded (`data/indexed.ts`): the byte offset of each record and
 * what the batch sampler needs; a batch reads and renders only its records.
 */
export interface IndexedDataset {
  readonly kind: "indexed"
  /** The task training sees (with classes when the targets take few values). */
  readonly task: TaskDef
  /** The task each record is rendered with (the column task `task` was made from). */
  readonly render: TaskDef
  readonly file: string
  readonly budget: TextBudget
  /** Number of records (examples). */
  readonly size: number
  /** Byte offset of each record's line, then the file's length: `size + 1` entries. */
  readonly offsets: Float64Array
  /** The file's length and modification time when it was indexed (a changed file is refused). */
  readonly bytes: number
  readonly mtime: number | undefined
  /** FNV-1a of the file's bytes (what a run key hashes instead of the examples). */
  readonly digest: string
  /** The distinct targets, sorted, when there are few (at most `MAX_DISTINCT`). */
  readonly targets: readonly string[] | undefined
  /** Target strings of the classes (classification only), in verbalizer order. */
  readonly candidates?: readonly string[]
}

/** A training set: examples in memory, or a file indexed by records. */
export type TrainSet = Dataset | IndexedDataset

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
