/**
 * The micro T5 that tests, the demo and the browser example use: ByT5 byte vocabulary (plus 16
 * sentinels), a few layers, d_model 128, trained from scratch by model tuning on a generated corpus:
 * span corruption over the suite's vocabulary plus a mixture of generated "skill" tasks that teach
 * what the words mean (which words are positive, animals, colours; counting; copying). The suite's
 * own tasks are not in the corpus, so prompts still have to be learned for them.
 */
import { type Dataset, type Example, Random, type T5Config, type TaskDef, Tokenizers } from "@spot/core"

/**
 * The trained micro T5 this package ships (`models/micro-t5/`: config.json + model.safetensors, 4 MB),
 * resolved relative to the installed package, so it is found from `node_modules` as from the repository.
 * A URL (not a path), so the module stays free of `node:` imports; in Node, `fileURLToPath` it.
 */
export const MICRO_MODEL_URL: URL = new URL("../models/micro-t5/", import.meta.url)

export const MICRO_CONFIG: T5Config.T5Config = {
  vocabSize: 275,
  dModel: 128,
  dKv: 32,
  dFf: 256,
  numLayers: 3,
  numDecoderLayers: 2,
  numHeads: 4,
  numBuckets: 16,
  maxDistance: 64,
  dropoutRate: 0,
  eps: 1e-6,
  ffn: "gated-gelu",
  tieWordEmbeddings: false,
  scaleDecoderOutputs: false,
  padId: 0,
  eosId: 1,
  decoderStartId: 0,
}

/** Sentinel i (0-based) is id vocab-1-i, as in T5 and ByT5. */
export const SENTINEL_BASE = MICRO_CONFIG.vocabSize - 1

const POS = ["good", "great", "fine", "happy", "nice", "love", "fun", "best", "glad", "kind"]
const NEG = ["bad", "awful", "sad", "poor", "hate", "dull", "ugly", "worst", "mean", "sour"]
const ANIMALS = ["cat", "dog", "cow", "owl", "fox", "bee", "pig", "ant", "hen", "rat"]
const COLORS = ["red", "blue", "green", "pink", "gray", "gold", "tan", "navy", "lime", "teal"]
const OTHER = ["the", "a", "it", "was", "is", "very", "so", "and", "this", "cup", "box", "pen", "car", "hat", "map", "key", "day"]
const ALL = [...POS, ...NEG, ...ANIMALS, ...COLORS, ...OTHER]

type Rand = () => number
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]
const words = (r: Rand, n: number) => Array.from({ length: n }, () => pick(r, ALL))

/** Skill tasks of the pretraining corpus: (input, target) generators. */
const SKILLS: ReadonlyArray<{ name: string; make: (r: Rand) => [string, string] }> = [
  {
    name: "word-polarity",
    make: (r) => {
      const w = pick(r, [...POS, ...NEG, ...OTHER])
      return [`polarity of ${w}`, POS.includes(w) ? "plus" : NEG.includes(w) ? "minus" : "none"]
    },
  },
  {
    name: "word-kind",
    make: (r) => {
      const w = pick(r, ALL)
      return [`kind of ${w}`, ANIMALS.includes(w) ? "animal" : COLORS.includes(w) ? "color" : "word"]
    },
  },
  {
    name: "count",
    make: (r) => {
      const n = 1 + Math.floor(r() * 7)
      return [`count: ${words(r, n).join(" ")}`, String(n)]
    },
  },
  {
    name: "net-polarity",
    make: (r) => {
      const ws = words(r, 2 + Math.floor(r() * 5))
      const score = ws.reduce((a, w) => a + (POS.includes(w) ? 1 : NEG.includes(w) ? -1 : 0), 0)
      return [`net: ${ws.join(" ")}`, score > 0 ? "plus" : score < 0 ? "minus" : "none"]
    },
  },
  {
    name: "find",
    make: (r) => {
      const ws = words(r, 2 + Math.floor(r() * 4))
      const kind = pick(r, ["animal", "color"])
      const pool = kind === "animal" ? ANIMALS : COLORS
      const hit = ws.find((w) => pool.includes(w))
      return [`find ${kind}: ${ws.join(" ")}`, hit ?? "none"]
    },
  },
  {
    name: "copy",
    make: (r) => {
      const ws = words(r, 1 + Math.floor(r() * 3)).join(" ")
      return [`copy: ${ws}`, ws]
    },
  },
  {
    name: "shared",
    make: (r) => {
      const a = words(r, 3)
      const b = r() < 0.5 ? [pick(r, a), pick(r, ALL)] : words(r, 2)
      const common = b.filter((w) => a.includes(w))
      return [`common: ${a.join(" ")} | ${b.join(" ")}`, common.length > 0 ? common[0] : "none"]
    },
  },
]

const SPAN_TASK: TaskDef = { name: "span-corruption", input: "{input}", target: "{target}", metrics: ["exact_match"] }

/** The pretraining corpus: one dataset per skill plus span corruption, for a seed. */
export const pretrainingCorpus = (n: number, seed: number, split = "train"): Dataset[] => {
  const r = (key: string): Rand => {
    let i = 0
    const k = Random.keyOf(`${split}/${key}`)
    return () => Random.uniformAt(seed, k, i++)
  }
  const skills: Dataset[] = SKILLS.map((s) => {
    const rr = r(s.name)
    const examples: Example[] = Array.from({ length: n }, () => {
      const [input, target] = s.make(rr)
      return { input, target }
    })
    return {
      task: { name: s.name, input: "{input}", target: "{target}", metrics: ["exact_match"] },
      file: `synthetic:${s.name}`,
      examples,
    } satisfies Dataset
  })
  return skills.concat(spanCorpus(n, seed, split))
}

/**
 * Span corruption with one masked span per example. The span is marked by the control byte 0x01,
 * which `microTokenizer` maps to the first sentinel id, so the corpus stays a plain text Dataset.
 */
const spanCorpus = (n: number, seed: number, split: string): Dataset => {
  let i = 0
  const k = Random.keyOf(`${split}/span`)
  const r: Rand = () => Random.uniformAt(seed, k, i++)
  const examples: Example[] = Array.from({ length: n }, () => {
    const text = words(r, 3 + Math.floor(r() * 5)).join(" ")
    const bytes = [...text]
    const span = 1 + Math.floor(r() * 4)
    const start = Math.floor(r() * Math.max(1, bytes.length - span))
    const input = `${bytes.slice(0, start).join("")}\u0001${bytes.slice(start + span).join("")}`
    const target = `\u0001${bytes.slice(start, start + span).join("")}`
    return { input, target }
  })
  return { task: SPAN_TASK, file: "synthetic:span-corruption", examples }
}

/** The byte tokenizer of the micro model: byte 0x01 is the first sentinel (id 274). */
export const microTokenizer = {
  ...Tokenizers.byteTokenizer,
  vocabSize: MICRO_CONFIG.vocabSize,
  encode: (text: string) => Tokenizers.byteTokenizer.encode(text).map((id) => (id === 4 ? SENTINEL_BASE : id)),
  decode: (ids: readonly number[]) => Tokenizers.byteTokenizer.decode(ids.map((id) => (id === SENTINEL_BASE ? 4 : id))),
  specialIds: new Set([0, 1, 2, ...Array.from({ length: 16 }, (_, j) => SENTINEL_BASE - j)]),
}
