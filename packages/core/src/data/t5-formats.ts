/**
 * T5's text-to-text preprocessors for GLUE and SuperGLUE (t5/data/preprocessors.py: `glue`, `stsb`,
 * `record`, `wsc_simple`; the prompt-tuning code's `remove_first_text_token` for "taskless" tasks),
 * applied to records exactly as Hugging Face's `glue` / `super_glue` datasets store them: text fields as
 * strings, `label` an integer class id (-1: unlabelled), `idx` an integer or, for MultiRC and ReCoRD,
 * an object of integers; ReCoRD's `entities` and `answers` lists of strings. A format is plain data
 * (no closures), so a task definition can be stored and compared.
 */
import { Result } from "effect"
import { DataError } from "../errors.ts"
import type { Dataset, Example, RawRecord, T5Format, TaskDef } from "./types.ts"
import { wnliSimple } from "./wnli-simple.ts"

export type { T5Format } from "./types.ts"

type R<A> = Result.Result<A, DataError>

const err = (file: string, line: number, field: string, message: string) =>
  Result.fail(new DataError({ file, line, field, message }))

const text = (rec: RawRecord, field: string, file: string, line: number): R<string> => {
  const v = rec[field]
  return typeof v === "string"
    ? Result.succeed(v)
    : err(file, line, field, v === undefined ? "missing text field" : `must be a string, got ${JSON.stringify(v)}`)
}

const int = (v: unknown, field: string, file: string, line: number): R<number> =>
  typeof v === "number" && Number.isInteger(v)
    ? Result.succeed(v)
    : err(file, line, field, v === undefined ? "missing integer field" : `must be an integer, got ${JSON.stringify(v)}`)

const strings = (rec: RawRecord, field: string, file: string, line: number): R<readonly string[]> => {
  const v = rec[field]
  return Array.isArray(v) && v.every((x) => typeof x === "string")
    ? Result.succeed(v as string[])
    : err(file, line, field, v === undefined ? "missing list of strings" : "must be a list of strings")
}

/** `idx` as Hugging Face stores it: an integer, or an object of integers with the given keys. */
const nestedIdx = (rec: RawRecord, keys: readonly string[], file: string, line: number): R<Record<string, number>> =>
  Result.gen(function* () {
    const v = rec.idx
    if (typeof v !== "object" || v === null || Array.isArray(v))
      return yield* err(file, line, "idx", `must be an object {${keys.join(", ")}} of integers`)
    const out: Record<string, number> = {}
    for (const k of keys) out[k] = yield* int((v as RawRecord)[k], `idx.${k}`, file, line)
    return out
  })

/** A present `idx` must be an integer (Hugging Face's flat index); an absent one is allowed. */
const flatIdx = (rec: RawRecord, file: string, line: number): R<undefined> =>
  rec.idx === undefined ? Result.succeed(undefined) : Result.map(int(rec.idx, "idx", file, line), () => undefined)

/** The label name of class `id` (-1 → `<unk>`, as T5's `glue()` does). */
const labelName = (rec: RawRecord, labels: readonly string[], file: string, line: number): R<string> =>
  Result.flatMap(int(rec.label, "label", file, line), (id) =>
    id === -1
      ? Result.succeed("<unk>")
      : id >= 0 && id < labels.length
        ? Result.succeed(labels[id])
        : err(
            file,
            line,
            "label",
            `class id ${id} out of range; ${labels.map((l, i) => `${i}: ${l}`).join(", ")}, -1: unlabelled`,
          ),
  )

/** The prompt-tuning code's `remove_first_text_token`: drop everything up to and including the first space. */
export const removeFirstTextToken = (s: string): string => s.replace(/^[^ ]* /, "")

/** Round half to even (`tf.round`). */
const roundHalfEven = (x: number): number => {
  const f = Math.floor(x)
  const d = x - f
  return d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1
}

/**
 * T5's STS-B target: `tf.as_string(tf.round(label * 5) / 5, precision=1)` in float32 (so 3.75 → "3.8",
 * and halves go to the even multiple of 0.2: 0.5 → "0.4").
 */
export const stsbTarget = (label: number): string => {
  const k = roundHalfEven(Math.fround(Math.fround(label) * 5))
  return Math.fround(k / 5).toFixed(1)
}

/** T5's ReCoRD passage: `@highlight` lines joined into sentences. */
export const recordPassage = (passage: string): string =>
  passage.replace(/([.?!"'])\n@highlight\n/g, "$1 ").replace(/\n@highlight\n/g, ". ")

const WSC_SPECIAL: ReadonlyArray<readonly [string, string]> = [
  [
    'The boy continued to whip the pony , and eventually the pony threw him over. John laughed out quite loud. "Good for him," he said. ',
    'The boy continued to whip the pony , and eventually the pony threw him over. John laughed out quite loud. "Good for X ," he said.',
  ],
  [
    "When they had eventually calmed down a bit , and had gotten home, Mr. Farley put the magic pebble in an iron safe . Some day they might want to use it , but really for now, what more could they wish for?",
    "When they had eventually calmed down a bit , and had gotten home, Mr. Farley put the magic pebble in an iron safe . Some day they might want to use X , but really for now, what more could they wish for?",
  ],
]

/** T5's `_wsc_inputs`: the text with the pronoun (word `span2_index`) replaced by `X`. */
const wscBlanked = (rec: RawRecord, file: string, line: number): R<string> =>
  Result.gen(function* () {
    const t = yield* text(rec, "text", file, line)
    const pronoun = yield* text(rec, "span2_text", file, line)
    const i = yield* int(rec.span2_index, "span2_index", file, line)
    const words = t.split(" ")
    if (i <= 0 || i >= words.length)
      return yield* err(
        file,
        line,
        "span2_index",
        `must be in 1..${words.length - 1} (T5 asserts the pronoun is not the first word)`,
      )
    const special = WSC_SPECIAL.find(([k]) => k === t)
    if (special) return special[1]
    if (words[i] !== pronoun)
      return yield* err(
        file,
        line,
        "span2_text",
        `word ${i} of text is ${JSON.stringify(words[i])}, not ${JSON.stringify(pronoun)}`,
      )
    return [words.slice(0, i).join(" "), "X", words.slice(i + 1).join(" ")].join(" ")
  })

const wscSimple = (rec: RawRecord, correctOnly: boolean, file: string, line: number): R<Example[]> =>
  Result.gen(function* () {
    const blanked = yield* wscBlanked(rec, file, line)
    const pronoun = yield* text(rec, "span2_text", file, line)
    const referent = yield* text(rec, "span1_text", file, line)
    yield* int(rec.span1_index, "span1_index", file, line)
    const label = yield* int(rec.label, "label", file, line)
    if (label < -1 || label > 1) return yield* err(file, line, "label", `must be 0, 1 or -1 (unlabelled), got ${label}`)
    yield* flatIdx(rec, file, line)
    if (correctOnly && label === 0) return []
    const input = `wsc: ${blanked.split(" X ").join(` *${pronoun}* `)}`
    return [{ input, target: referent, ...(label >= 0 ? { referentCorrect: label === 1 } : {}) }]
  })

const glue = (f: Extract<T5Format, { kind: "glue" }>, rec: RawRecord, file: string, line: number): R<Example[]> =>
  Result.gen(function* () {
    const parts: string[] = [f.benchmark]
    for (const k of f.features) parts.push(`${k}:`, yield* text(rec, f.rekey?.[k] ?? k, file, line))
    let input = parts.join(" ")
    const target = yield* labelName(rec, f.labels, file, line)
    let group: string | undefined
    if (f.benchmark === "multirc") {
      input = input.replaceAll("<br>", " ").replace(/<\/?b>/g, "")
      group = String((yield* nestedIdx(rec, ["paragraph", "question", "answer"], file, line)).question)
    } else yield* flatIdx(rec, file, line)
    const label = f.labels.indexOf(target)
    return [{ input, target, ...(label >= 0 ? { label } : {}), ...(group !== undefined ? { group } : {}) }]
  })

const stsb = (rec: RawRecord, file: string, line: number): R<Example[]> =>
  Result.gen(function* () {
    const s1 = yield* text(rec, "sentence1", file, line)
    const s2 = yield* text(rec, "sentence2", file, line)
    const v = rec.label
    if (typeof v !== "number" || !Number.isFinite(v))
      return yield* err(file, line, "label", `must be a number (similarity 0–5, -1 unlabelled), got ${JSON.stringify(v)}`)
    yield* flatIdx(rec, file, line)
    return [{ input: `stsb sentence1: ${s1} sentence2: ${s2}`, target: stsbTarget(v) }]
  })

const wnli = (rec: RawRecord, file: string, line: number): R<Example[]> =>
  Result.gen(function* () {
    const premise = yield* text(rec, "sentence1", file, line)
    const hypothesis = yield* text(rec, "sentence2", file, line)
    const label = yield* int(rec.label, "label", file, line)
    if (label < -1 || label > 1) return yield* err(file, line, "label", `must be 0, 1 or -1 (unlabelled), got ${label}`)
    yield* flatIdx(rec, file, line)
    const r = wnliSimple(premise, hypothesis)
    if (Result.isFailure(r)) return yield* err(file, line, "sentence1", `T5's wnli_simple cannot rewrite this pair: ${r.failure}`)
    return [{ ...r.success, ...(label >= 0 ? { referentCorrect: label === 1 } : {}) }]
  })

/** ReCoRD: one example per answer, in the stored order (`<unk>` when there are none). */
const record = (rec: RawRecord, file: string, line: number): R<Example[]> =>
  Result.gen(function* () {
    const passage = yield* text(rec, "passage", file, line)
    const query = yield* text(rec, "query", file, line)
    const entities = yield* strings(rec, "entities", file, line)
    const answers = yield* strings(rec, "answers", file, line)
    const idx = yield* nestedIdx(rec, ["passage", "query"], file, line)
    const input = `record query: ${query} entities: ${entities.join(", ")} passage: ${recordPassage(passage)}`
    const group = `${idx.passage}/${idx.query}`
    return (answers.length > 0 ? answers : ["<unk>"]).map((target) => ({ input, target, group, answers }))
  })

/** The examples T5 makes of one record (ReCoRD: several; WSC training variant: possibly none). */
export const formatRecord = (f: T5Format, rec: RawRecord, file: string, line: number): R<Example[]> => {
  const out =
    f.kind === "glue"
      ? glue(f, rec, file, line)
      : f.kind === "stsb"
        ? stsb(rec, file, line)
        : f.kind === "record"
          ? record(rec, file, line)
          : f.kind === "wnli_simple"
            ? wnli(rec, file, line)
            : wscSimple(rec, f.correctReferentOnly, file, line)
  return f.taskless ? Result.map(out, (xs) => xs.map((x) => ({ ...x, input: removeFirstTextToken(x.input) }))) : out
}

/** A dataset of a task with a T5 format: every record through `formatRecord`. */
export const makeFormattedDataset = (
  task: TaskDef & { readonly format: T5Format },
  records: ReadonlyArray<readonly [number, RawRecord]>,
  file: string,
): R<Dataset> =>
  Result.gen(function* () {
    const examples: Example[] = []
    for (const [line, rec] of records) examples.push(...(yield* formatRecord(task.format, rec, file, line)))
    if (examples.length === 0) return yield* err(file, 0, "(file)", "no examples")
    const candidates = task.format.kind === "glue" ? task.format.labels : undefined
    return { task, file, examples, ...(candidates ? { candidates } : {}) }
  })
