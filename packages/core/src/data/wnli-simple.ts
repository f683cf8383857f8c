/**
 * T5's `wnli_simple` (t5/data/preprocessors.py): a WNLI pair rewritten in WSC form for evaluation —
 * the pronoun of the premise that the hypothesis best matches around is marked `*…*`, and the words
 * of the hypothesis in its place are the candidate referent. A transcription of T5's heuristics
 * (including its unescaped regular expressions); where T5 would raise, this returns why.
 */
import { Result } from "effect"

const PRONOUNS = new Set(["he", "she", "they", "it", "her", "his", "their", "them", "him"])
const PUNCT = [".", ",", "!", "?"]

const splitClean = (s: string): string[] =>
  s
    .trim()
    .toLowerCase()
    .split(" ")
    .map((w) => w.replace(/(\.|,|\?|!)$/, ""))
    .filter((w) => w !== "")

/** Length of the longest prefix of `words` whose join is a substring of the joined `hypothesis`. */
const postMatchSize = (hypothesis: readonly string[], words: readonly string[]): number => {
  const h = hypothesis.join(" ")
  for (let i = 0; i < words.length; i++) if (!h.includes(words.slice(0, i + 1).join(" "))) return i
  return words.length
}
const preMatchSize = (hypothesis: readonly string[], words: readonly string[]) =>
  postMatchSize([...hypothesis].reverse(), [...words].reverse())

const search = (pattern: string, text: string): string | undefined => {
  try {
    return new RegExp(pattern).exec(text)?.[1]
  } catch {
    return undefined
  }
}

const pronounMatch = (premise: readonly string[], hypothesis: readonly string[], index: number) => {
  const pre = premise.slice(0, index)
  const post = premise.slice(index + 1)
  const preSize = preMatchSize(hypothesis, pre)
  const postSize = postMatchSize(hypothesis, post)
  const score = preSize + postSize
  let candidate = ""
  if (score) {
    const preMatch = preSize === 0 ? [] : pre.slice(pre.length - preSize)
    const postMatch = post.slice(0, postSize)
    const h = hypothesis.join(" ")
    candidate =
      search([...preMatch, "(.+)", ...postMatch].join(" "), h) ??
      search(["^(.+)", ...postMatch].join(" "), h) ??
      search([...preMatch, "(.+)$"].join(" "), h) ??
      ""
  }
  return { score, index, candidate }
}

const highlight = (sentence: string, index: number): string | undefined => {
  const words = sentence.split(" ")
  const word = words[index]
  if (word === undefined || word === "") return undefined
  const last = word[word.length - 1]
  const marked = PUNCT.includes(last) ? `*${word.slice(0, -1)}* ${last}` : `*${word}*`
  return [...words.slice(0, index), marked, ...words.slice(index + 1)].join(" ")
}

const nonPossessive = (w: string) => (w.endsWith("'") ? w.slice(0, -1) : w.endsWith("'s") ? w.slice(0, -2) : w)

/** From the last article on (T5's `clean_up`). */
const cleanUp = (candidate: string): string => {
  const words = candidate.split(" ")
  const at = Math.max(0, ...["a", "an", "the"].map((a) => words.indexOf(a)))
  return words.slice(at).join(" ")
}

/** Python's `re.escape` (3.7+). */
const reEscape = (s: string) => s.replace(/[()[\]{}?*+\-|^$\\.&~# \t\n\r\v\f]/g, "\\$&")

const processCandidate = (candidate: string, hypothesis: string): Result.Result<string, string> => {
  const c = cleanUp(candidate)
  const pattern = `(${c
    .split(" ")
    .map((w) => `${reEscape(w)}(?:\\.|,|\\?|\\!)?`)
    .join(" ")})`
  const m = new RegExp(pattern, "i").exec(hypothesis)
  if (!m) return Result.fail(`cannot find the candidate ${JSON.stringify(c)} in the hypothesis`)
  let found = m[1]
  if (found !== "" && PUNCT.includes(found[found.length - 1])) found = found.slice(0, -1)
  return Result.succeed(nonPossessive(found))
}

/** `{ input, target }` of T5's `wnli_simple` for a (sentence1, sentence2) pair, or why T5 would fail on it. */
export const wnliSimple = (premise: string, hypothesis: string): Result.Result<{ input: string; target: string }, string> => {
  const p = splitClean(premise)
  const h = splitClean(hypothesis)
  const scored = p.flatMap((w, i) => (PRONOUNS.has(w) ? [pronounMatch(p, h, i)] : []))
  if (scored.length === 0) return Result.fail("the premise has no pronoun")
  const best = scored.reduce((a, b) => (b.score > a.score ? b : a))
  const marked = highlight(premise, best.index)
  if (marked === undefined) return Result.fail(`word ${best.index} of the premise cannot be marked`)
  return Result.map(processCandidate(best.candidate, hypothesis), (target) => ({ input: `wsc: ${marked}`, target }))
}
