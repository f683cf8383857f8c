/**
 * GLUE/SuperGLUE as T5 formats and scores them. Every expected string and number below was worked
 * out by hand from T5's definitions (t5/data/preprocessors.py `glue`, `stsb`, `record`, `wsc_simple`;
 * postprocessors.py; evaluation/metrics.py and qa_utils.py), not by running this code.
 */
import { Benchmarks, Data, type Dataset, type Example, Scoring } from "@spot/core"
import { Result } from "effect"
import { describe, expect, it } from "vitest"

const preset = (name: string, o: Benchmarks.PresetOptions = {}) => Result.getOrThrow(Benchmarks.taskPreset(name, o))
const make = (name: string, recs: object[], o: Benchmarks.PresetOptions = {}) =>
  Data.makeDataset(
    preset(name, o),
    recs.map((r, i) => [i + 1, r as Data.RawRecord] as const),
    `${name.replace("/", "-")}.jsonl`,
  )
const examples = (name: string, recs: object[], o: Benchmarks.PresetOptions = {}) =>
  Result.getOrThrow(make(name, recs, o)).examples.map((e) => ({ ...e }))
const failure = (r: Result.Result<unknown, unknown>) => (Result.isFailure(r) ? r.failure : undefined)

describe("T5's glue() format over Hugging Face records", () => {
  it("task name, then the features in sorted key order; labels by name; idx left out", () => {
    expect(examples("superglue/boolq", [{ question: "is it raining", passage: "It rains.", idx: 3, label: 1 }])).toEqual([
      { input: "boolq passage: It rains. question: is it raining", target: "True", label: 1 },
    ])
    expect(examples("glue/mnli", [{ premise: "P.", hypothesis: "H.", label: 2, idx: 0 }])[0]).toMatchObject({
      input: "mnli hypothesis: H. premise: P.",
      target: "contradiction",
    })
    expect(examples("glue/rte", [{ sentence1: "A.", sentence2: "B.", label: 1, idx: 0 }])[0].input).toBe(
      "rte sentence1: A. sentence2: B.",
    )
    expect(examples("superglue/rte", [{ premise: "P.", hypothesis: "H.", label: 0, idx: 0 }])[0]).toMatchObject({
      input: "rte hypothesis: H. premise: P.",
      target: "entailment",
    })
    const copa = { premise: "The man broke his toe.", choice1: "He dropped a hammer.", choice2: "He ran.", question: "cause" }
    expect(examples("superglue/copa", [{ ...copa, label: 0, idx: 0 }])[0]).toMatchObject({
      input: "copa choice1: He dropped a hammer. choice2: He ran. premise: The man broke his toe. question: cause",
      target: "choice1",
    })
    // WiC: T5 passes feature_names (the integer offsets are left out)
    const wic = { word: "bank", sentence1: "S1", sentence2: "S2", start1: 0, start2: 1, end1: 2, end2: 3, idx: 0, label: 0 }
    expect(examples("superglue/wic", [wic])[0].input).toBe("wic sentence1: S1 sentence2: S2 word: bank")
    expect(examples("glue/cola", [{ sentence: "x y", label: 0, idx: 1 }])[0]).toMatchObject({
      input: "cola sentence: x y",
      target: "unacceptable",
    })
    expect(examples("glue/wnli", [{ sentence1: "a", sentence2: "b", label: 1, idx: 1 }])[0]).toMatchObject({
      input: "wnli sentence1: a sentence2: b",
      target: "entailment",
    })
    // AX-b is rekeyed (sentence1 → premise, sentence2 → hypothesis) and cast as RTE
    expect(examples("superglue/axb", [{ sentence1: "S1", sentence2: "S2", label: 1, idx: 0 }])[0]).toMatchObject({
      input: "rte hypothesis: S2 premise: S1",
      target: "not_entailment",
    })
  })
  it("label -1 (unlabelled) becomes <unk> and carries no class", () => {
    expect(examples("superglue/cb", [{ premise: "p", hypothesis: "h", label: -1, idx: 0 }])).toEqual([
      { input: "cb hypothesis: h premise: p", target: "<unk>" },
    ])
  })
  it("MultiRC: T5's feature order, <br> → space, <b>/</b> removed, grouped by question", () => {
    const rec = {
      paragraph: "Sent 1: <b>Bob</b> ran.<br>Sent 2: He fell.",
      question: "Who ran?",
      answer: "Bob",
      idx: { paragraph: 0, question: 7, answer: 1 },
      label: 1,
    }
    expect(examples("superglue/multirc", [rec])).toEqual([
      {
        input: "multirc question: Who ran? answer: Bob paragraph: Sent 1: Bob ran. Sent 2: He fell.",
        target: "True",
        label: 1,
        group: "7",
      },
    ])
  })
  it("STS-B: round(label·5)/5 in float32 with halves to even, one decimal", () => {
    const t = (label: number) => examples("glue/stsb", [{ sentence1: "a", sentence2: "b", label, idx: 0 }])[0].target
    expect(examples("glue/stsb", [{ sentence1: "a", sentence2: "b", label: 3.75, idx: 0 }])[0]).toEqual({
      input: "stsb sentence1: a sentence2: b",
      target: "3.8",
    })
    expect(t(0.5)).toBe("0.4") // 2.5 → 2
    expect(t(5)).toBe("5.0")
    expect(t(2.3)).toBe("2.4") // float32(2.3)·5 rounds to 11.5 → 12
    expect(t(1.7)).toBe("1.6") // float32(1.7)·5 rounds to 8.5 → 8
    expect(t(0)).toBe("0.0")
  })
  it("ReCoRD: @highlight handling, entities joined by ', ', one example per answer in the stored order", () => {
    const rec = {
      passage: "Alice met Bob.\n@highlight\nBob is tall\n@highlight\nCarol waved",
      query: "@placeholder met Bob.",
      entities: ["Alice", "Bob", "Carol"],
      answers: ["Alice", "Bob"],
      idx: { passage: 2, query: 5 },
    }
    const input =
      "record query: @placeholder met Bob. entities: Alice, Bob, Carol passage: Alice met Bob. Bob is tall. Carol waved"
    expect(examples("superglue/record", [rec])).toEqual([
      { input, target: "Alice", group: "2/5", answers: ["Alice", "Bob"] },
      { input, target: "Bob", group: "2/5", answers: ["Alice", "Bob"] },
    ])
    expect(examples("superglue/record", [{ ...rec, answers: [] }]).map((e) => e.target)).toEqual(["<unk>"])
  })
  it("WSC as wsc_simple: the pronoun marked, the candidate referent as target; the training variant keeps correct ones", () => {
    const rec = {
      text: "Mitchell asked Tom if he could lend some money.",
      span1_index: 2,
      span2_index: 4,
      span1_text: "Tom",
      span2_text: "he",
      idx: 0,
    }
    const recs = [
      { ...rec, label: 1 },
      { ...rec, span1_text: "Mitchell", span1_index: 0, label: 0 },
    ]
    const input = "wsc: Mitchell asked Tom if *he* could lend some money."
    expect(examples("superglue/wsc", recs)).toEqual([
      { input, target: "Tom", referentCorrect: true },
      { input, target: "Mitchell", referentCorrect: false },
    ])
    expect(examples("superglue/wsc", recs, { split: "train" })).toEqual([{ input, target: "Tom", referentCorrect: true }])
    const bad = make("superglue/wsc", [{ ...rec, span2_text: "she", label: 1 }])
    expect(failure(bad)).toMatchObject({ _tag: "DataError", line: 1, field: "span2_text" })
  })
  it("WNLI as T5's eval-only wnli_simple: the best-matching pronoun marked, the hypothesis words in its place as target", () => {
    const w = (sentence1: string, sentence2: string, label = 1) =>
      examples("glue/wnli_simple", [{ sentence1, sentence2, label, idx: 0 }])[0]
    // T5's docstring example
    expect(w("The fish ate the worm. It was tasty.", "The worm was tasty.")).toEqual({
      input: "wsc: The fish ate the worm. *It* was tasty.",
      target: "The worm",
      referentCorrect: true,
    })
    expect(w("The trophy did not fit in the suitcase because it was big.", "The trophy was big.", 0)).toEqual({
      input: "wsc: The trophy did not fit in the suitcase because *it* was big.",
      target: "The trophy",
      referentCorrect: false,
    })
    // punctuation after the pronoun is split off; the first match in the hypothesis is taken
    expect(w("Ann thanked Sue for helping her.", "Ann thanked Sue for helping Ann.")).toMatchObject({
      input: "wsc: Ann thanked Sue for helping *her* .",
      target: "Ann",
    })
    const bad = make("glue/wnli_simple", [{ sentence1: "Cats sleep.", sentence2: "Cats rest.", label: 0, idx: 0 }])
    expect(failure(bad)).toMatchObject({ _tag: "DataError", line: 1, field: "sentence1" })
  })
  it("the taskless variant drops the first word (the task name)", () => {
    const o = { taskless: true }
    expect(examples("superglue/boolq", [{ question: "q", passage: "p", idx: 0, label: 0 }], o)[0].input).toBe(
      "passage: p question: q",
    )
    expect(examples("glue/stsb", [{ sentence1: "a", sentence2: "b", label: 1, idx: 0 }], o)[0].input).toBe(
      "sentence1: a sentence2: b",
    )
    const wsc = {
      text: "A asked B if he c.",
      span1_index: 0,
      span2_index: 4,
      span1_text: "A",
      span2_text: "he",
      idx: 0,
      label: 1,
    }
    expect(examples("superglue/wsc", [wsc], o)[0].input).toBe("A asked B if *he* c.")
    expect(preset("superglue/boolq", o).name).toBe("taskless_boolq")
  })
  it("bad records: a typed error naming file, line and field", () => {
    const cases: Array<[string, object, string]> = [
      ["superglue/cb", { premise: "p", hypothesis: "h", label: 7, idx: 0 }, "label"],
      ["superglue/cb", { premise: "p", hypothesis: "h", label: "neutral", idx: 0 }, "label"],
      ["superglue/cb", { premise: "p", label: 0, idx: 0 }, "hypothesis"],
      ["superglue/cb", { premise: "p", hypothesis: 3, label: 0, idx: 0 }, "hypothesis"],
      ["superglue/boolq", { question: "q", passage: "p", label: 0, idx: "x" }, "idx"],
      ["superglue/multirc", { paragraph: "p", question: "q", answer: "a", label: 0, idx: 3 }, "idx"],
      [
        "superglue/multirc",
        { paragraph: "p", question: "q", answer: "a", label: 0, idx: { paragraph: 0, answer: 0 } },
        "idx.question",
      ],
      ["superglue/record", { passage: "p", query: "q", entities: "A", answers: [], idx: { passage: 0, query: 0 } }, "entities"],
      ["superglue/record", { passage: "p", query: "q", entities: ["A"], answers: [1], idx: { passage: 0, query: 0 } }, "answers"],
      ["glue/stsb", { sentence1: "a", sentence2: "b", label: "3.2", idx: 0 }, "label"],
    ]
    for (const [name, rec, field] of cases) {
      const r = Data.makeDataset(preset(name), [[9, rec as Data.RawRecord]], "bad.jsonl")
      expect(failure(r), `${name} ${field}`).toMatchObject({ _tag: "DataError", file: "bad.jsonl", line: 9, field })
    }
    expect(failure(Benchmarks.taskPreset("glue/nope"))).toMatchObject({ _tag: "InputError", field: "--task" })
  })
  it("every preset names metrics and reads its own kind of record", () => {
    expect(Benchmarks.presetNames()).toContain("superglue/record")
    for (const n of Benchmarks.presetNames()) expect(preset(n).metrics.length).toBeGreaterThan(0)
    expect(preset("glue/mnli_mismatched").name).toBe("mnli")
    expect(preset("super_glue/wsc.fixed").name).toBe("wsc")
  })
})

const ds = (name: string, exs: Example[]): Dataset => {
  const task = preset(name)
  return { task, file: "x", examples: exs }
}
const cls = (targets: string[], extra: (i: number) => Partial<Example> = () => ({})) =>
  targets.map((target, i) => ({ input: `i${i}`, target, ...extra(i) }))

describe("scoring as T5 (decoded outputs through T5's postprocessors)", () => {
  it("MRPC: F1 with invalid outputs counted wrong, and accuracy", () => {
    const d = ds("glue/mrpc", cls(["equivalent", "equivalent", "not_equivalent", "not_equivalent"]))
    const m = Scoring.scoreFormatted(d, d.task.format!, ["equivalent", "banana", "not_equivalent", "equivalent"])
    expect(m.f1).toBeCloseTo(0.5) // tp 1, fn 1 (the invalid one), fp 1
    expect(m.accuracy).toBeCloseTo(0.5)
  })
  it("CoLA: Matthews with an invalid output as a class of its own (sklearn's multiclass MCC)", () => {
    const d = ds("glue/cola", cls(["acceptable", "unacceptable", "acceptable", "unacceptable"]))
    const m = Scoring.scoreFormatted(d, d.task.format!, ["acceptable", "??", "acceptable", "acceptable"])
    expect(m.matthews).toBeCloseTo(2 / Math.sqrt(48)) // c=2, n=4, Σp·t=6, n²-Σp²=6, n²-Σt²=8
  })
  it("CB: macro F1 over the three classes and accuracy", () => {
    const d = ds("superglue/cb", cls(["entailment", "contradiction", "neutral", "entailment"]))
    const m = Scoring.scoreFormatted(d, d.task.format!, ["entailment", "contradiction", "maybe", "contradiction"])
    expect(m.macro_f1).toBeCloseTo((2 / 3 + 2 / 3 + 0) / 3)
    expect(m.accuracy).toBeCloseTo(0.5)
  })
  it("MultiRC: exact match per question, F1 over all answers", () => {
    const groups = ["1", "1", "2", "2", "2"]
    const d = ds(
      "superglue/multirc",
      cls(["True", "False", "True", "True", "False"], (i) => ({ group: groups[i] })),
    )
    const m = Scoring.scoreFormatted(d, d.task.format!, ["True", "False", "True", "yes", "False"])
    expect(m.group_exact_match).toBeCloseTo(0.5)
    expect(m.f1).toBeCloseTo(0.8) // tp 2, fn 1
  })
  it("ReCoRD: one copy per passage/query, best over the answers after SQuAD normalisation", () => {
    const exs: Example[] = [
      { input: "a", target: "Alice Smith", group: "a", answers: ["Alice Smith", "Alice"] },
      { input: "a", target: "Alice", group: "a", answers: ["Alice Smith", "Alice"] },
      { input: "b", target: "Bob", group: "b", answers: ["Bob"] },
      { input: "c", target: "New York City", group: "c", answers: ["New York City"] },
    ]
    const d = ds("superglue/record", exs)
    const m = Scoring.scoreFormatted(d, d.task.format!, ["the alice!", "xyz", "Bobby", "York"])
    expect(m.squad_em).toBeCloseTo(1 / 3)
    expect(m.squad_f1).toBeCloseTo((1 + 0 + 0.5) / 3)
  })
  it("STS-B: outputs parsed as Python floats (-1 when not a number); Pearson and Spearman", () => {
    const d = ds("glue/stsb", cls(["1.0", "2.0", "3.0"]))
    const m = Scoring.scoreFormatted(d, d.task.format!, ["1.0", "2.5", "nonsense"])
    expect(m.pearson).toBeCloseTo(-2 / Math.sqrt((2 * 222) / 36))
    expect(m.spearman).toBeCloseTo(-0.5)
    expect([" 2 ", "3.8abc", "1_0", "1e2", ".", "", "-inf"].map((s) => Scoring.stringToFloat(s))).toEqual([
      2,
      -1,
      10,
      100,
      -1,
      -1,
      Number.NEGATIVE_INFINITY,
    ])
  })
  it("WSC: the prediction names the referent or not, compared with the label", () => {
    expect(Scoring.wscPredictsReferent("tom", "Tom")).toBe(1)
    expect(Scoring.wscPredictsReferent("the Tom", "Tom")).toBe(1)
    expect(Scoring.wscPredictsReferent("Mitchell", "Tom")).toBe(0)
    expect(Scoring.wscPredictsReferent("  ", "Tom")).toBe(-1)
    expect(Scoring.wscPredictsReferent("Tom's hat", "Tom")).toBe(0)
    expect(Scoring.wscPredictsReferent("bunny", "the fuzzy bunny")).toBe(1)
    const d = ds(
      "superglue/wsc",
      cls(["Tom", "Tom", "Tom"], (i) => ({ referentCorrect: i !== 1 })),
    )
    expect(Scoring.scoreFormatted(d, d.task.format!, ["tom", "Tom", ""]).accuracy).toBeCloseTo(1 / 3)
  })
})

describe("benchmark averages as T5's compute_avg_glue", () => {
  const sg = {
    boolq: { accuracy: 0.8 },
    cb: { macro_f1: 0.6, accuracy: 0.8 },
    copa: { accuracy: 0.6 },
    multirc: { f1: 0.7, group_exact_match: 0.3 },
    record: { squad_f1: 0.9, squad_em: 0.8 },
    rte: { accuracy: 0.7 },
    wic: { accuracy: 0.6 },
    wsc: { accuracy: 0.65 },
  }
  it("SuperGLUE: the mean of the eight task means; a missing task is an error naming it", () => {
    expect(Result.getOrThrow(Benchmarks.benchmarkAverage("superglue", sg))).toBeCloseTo(
      (0.8 + 0.7 + 0.6 + 0.5 + 0.85 + 0.7 + 0.6 + 0.65) / 8,
    )
    const { wsc: _, ...seven } = sg
    const r = Benchmarks.benchmarkAverage("superglue", seven)
    expect(Result.isFailure(r) && r.failure.message).toContain("wsc")
  })
  it("GLUE: MNLI matched and mismatched form one task", () => {
    const g = {
      cola: { matthews: 0.4 },
      sst2: { accuracy: 0.9 },
      mrpc: { f1: 0.9, accuracy: 0.8 },
      stsb: { pearson: 0.8, spearman: 0.6 },
      qqp: { f1: 0.7, accuracy: 0.9 },
      mnli_matched: { accuracy: 0.8 },
      mnli_mismatched: { accuracy: 0.6 },
      qnli: { accuracy: 0.9 },
      rte: { accuracy: 0.6 },
    }
    expect(Result.getOrThrow(Benchmarks.benchmarkAverage("glue", g))).toBeCloseTo(
      (0.4 + 0.9 + 0.85 + 0.7 + 0.8 + 0.7 + 0.9 + 0.6) / 8,
    )
  })
})
