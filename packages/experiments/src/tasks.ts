/**
 * A generated suite of text-to-text tasks in a few families, so that some tasks are related (same
 * underlying decision, other words and templates, often the same label words) and others are not.
 * Label words are ones the micro model already produces (its pretraining skills answer with plus,
 * minus, none, animal, color, …), as T5's own verbalizers are words T5 knows. Everything is a pure
 * function of a seed: tests and the demo need no download.
 */
import { type Dataset, Random, type TaskDef } from "@spot/core"

type Rand = () => number
const rand = (seed: number, key: string): Rand => {
  let i = 0
  const k = Random.keyOf(key)
  return () => Random.uniformAt(seed, k, i++)
}
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]
const shuffle = <T>(r: Rand, xs: readonly T[]): T[] => {
  const a = [...xs]
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1))
    ;[a[i], a[j]] = [a[j], a[i]]
  }
  return a
}

const POS = ["good", "great", "fine", "happy", "nice", "love", "fun", "best"]
const NEG = ["bad", "awful", "sad", "poor", "hate", "dull", "ugly", "worst"]
const FILL = ["the", "a", "it", "was", "is", "very", "so", "and", "this", "that", "day", "one"]
const ANIMALS = ["cat", "dog", "cow", "owl", "fox", "bee", "pig", "ant"]
const COLORS = ["red", "blue", "green", "pink", "gray", "gold", "tan", "navy"]
const THINGS = ["cup", "box", "pen", "car", "hat", "map", "key", "bag"]

export type Family = "sentiment" | "topic" | "length" | "overlap"

export interface SyntheticTask {
  readonly def: TaskDef
  readonly family: Family
  /** (input, label) for example i of split `split`. */
  readonly make: (r: Rand) => { input: string; label: string }
}

const cls = (
  name: string,
  input: string,
  labels: readonly [string, string],
  metrics: TaskDef["metrics"] = ["accuracy"],
): TaskDef => ({
  name,
  input,
  target: "{label}",
  verbalizer: { [labels[0]]: labels[0], [labels[1]]: labels[1] },
  metrics,
})

/** Words with a majority of positive or negative ones (never a tie). */
const sentiment = (r: Rand, extra: readonly string[]) => {
  const nPos = Math.floor(r() * 4)
  let nNeg = Math.floor(r() * 4)
  if (nNeg === nPos) nNeg = nPos + (r() < 0.5 ? 1 : -1)
  if (nNeg < 0) nNeg = 1
  const words = [
    ...Array.from({ length: nPos }, () => pick(r, POS)),
    ...Array.from({ length: nNeg }, () => pick(r, NEG)),
    ...Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick(r, [...FILL, ...extra])),
  ]
  return { text: shuffle(r, words).join(" "), positive: nPos > nNeg }
}

const sentence = (r: Rand, pools: readonly (readonly string[])[], n: number) =>
  Array.from({ length: n }, () => pick(r, pick(r, pools))).join(" ")

export const SUITE: readonly SyntheticTask[] = [
  {
    family: "sentiment",
    def: cls("movie-sentiment", "review: {text}", ["minus", "plus"]),
    make: (r) => {
      const s = sentiment(r, ["film", "plot", "actor"])
      return { input: s.text, label: s.positive ? "plus" : "minus" }
    },
  },
  {
    family: "sentiment",
    def: cls("food-sentiment", "meal: {text}", ["minus", "plus"]),
    make: (r) => {
      const s = sentiment(r, ["soup", "cake", "tea"])
      return { input: s.text, label: s.positive ? "plus" : "minus" }
    },
  },
  {
    family: "sentiment",
    def: cls("post-mood", "post: {text} mood?", ["minus", "plus"]),
    make: (r) => {
      const s = sentiment(r, ["today", "we", "you"])
      return { input: s.text, label: s.positive ? "plus" : "minus" }
    },
  },
  {
    family: "topic",
    def: cls("animal-topic", "text: {text} animal?", ["none", "animal"]),
    make: (r) => {
      const yes = r() < 0.5
      const words = sentence(r, [FILL, COLORS, THINGS], 2 + Math.floor(r() * 3)).split(" ")
      if (yes) words.splice(Math.floor(r() * (words.length + 1)), 0, pick(r, ANIMALS))
      return { input: words.join(" "), label: yes ? "animal" : "none" }
    },
  },
  {
    family: "topic",
    def: cls("color-topic", "words: {text} color?", ["none", "color"]),
    make: (r) => {
      const yes = r() < 0.5
      const words = sentence(r, [FILL, ANIMALS, THINGS], 2 + Math.floor(r() * 3)).split(" ")
      if (yes) words.splice(Math.floor(r() * (words.length + 1)), 0, pick(r, COLORS))
      return { input: words.join(" "), label: yes ? "color" : "none" }
    },
  },
  {
    family: "length",
    def: cls("short-long", "length: {text}", ["short", "long"]),
    make: (r) => {
      const long = r() < 0.5
      const n = long ? 5 + Math.floor(r() * 3) : 1 + Math.floor(r() * 3)
      return { input: sentence(r, [FILL, THINGS, ANIMALS], n), label: long ? "long" : "short" }
    },
  },
  {
    family: "overlap",
    def: cls("pair-overlap", "p: {text}", ["none", "same"]),
    make: (r) => {
      const a = shuffle(r, [...ANIMALS, ...COLORS]).slice(0, 2)
      const same = r() < 0.5
      const b = same ? [pick(r, a), pick(r, FILL)] : [pick(r, THINGS), pick(r, FILL)]
      return { input: `${a.join(" ")} q: ${shuffle(r, b).join(" ")}`, label: same ? "same" : "none" }
    },
  },
  {
    family: "overlap",
    def: cls("word-overlap", "a: {text}", ["none", "same"]),
    make: (r) => {
      const a = shuffle(r, [...THINGS, ...ANIMALS]).slice(0, 3)
      const same = r() < 0.5
      const b = same ? shuffle(r, a).slice(0, 2) : [pick(r, COLORS), pick(r, COLORS)]
      return { input: `${a.join(" ")} b: ${b.join(" ")}`, label: same ? "same" : "none" }
    },
  },
]

export const taskNamed = (name: string) => SUITE.find((t) => t.def.name === name)

/** `n` examples of a task for a split (`train`, `valid`, `test`), as a dataset. */
export const generate = (task: SyntheticTask, split: string, n: number, seed = 0): Dataset => {
  const r = rand(seed, `${task.def.name}/${split}`)
  const labels = Object.keys(task.def.verbalizer ?? {})
  const examples = Array.from({ length: n }, () => {
    const { input, label } = task.make(r)
    return { input: task.def.input.replace("{text}", input), target: label, label: labels.indexOf(label) }
  })
  return { task: { ...task.def, input: "{input}" }, file: `synthetic:${task.def.name}/${split}`, examples, candidates: labels }
}

/** JSONL lines (`{"input": …, "target": …}`) of a generated split. */
export const toJsonl = (ds: Dataset): string =>
  `${ds.examples.map((e) => JSON.stringify({ input: e.input, target: e.target })).join("\n")}\n`

/** The splits of each named suite task, as the study engine takes them (`Study.runStudy`). */
export const studyData = (names: Iterable<string>, nTrain: number, nValid: number) => {
  const data = new Map<string, { train: Dataset; valid: Dataset }>()
  const unknown: string[] = []
  for (const name of new Set(names)) {
    const t = taskNamed(name)
    if (t) data.set(name, { train: generate(t, "train", nTrain), valid: generate(t, "valid", nValid) })
    else unknown.push(name)
  }
  return { data, unknown }
}
