/**
 * Files a new user has: a Hugging Face cache as `huggingface_hub` writes it (refs, snapshots as
 * relative symlinks into blobs) holding a small T5 with its own T5-style `tokenizer.json` (no
 * `spot_tokenizer` key: the tokenizer is found the way a real checkpoint's is) and a dataset with
 * Parquet and JSONL splits. Everything is made here, in a temp folder.
 */
import { createHash } from "node:crypto"
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { parquetWriteBuffer } from "hyparquet-writer"
import { tinyCheckpoint } from "./helpers.ts"

export const SHA_MAIN = "1111111111111111111111111111111111111111"
export const SHA_V2 = "2222222222222222222222222222222222222222"

const LETTERS = "abcdefghijklmnopqrstuvwxyz"

/** A T5-style Unigram `tokenizer.json` (Metaspace, `<pad>` 0, `</s>` 1, `<unk>` 2, `</s>` appended). */
export const t5Tokenizer = () => {
  const special = ["<pad>", "</s>", "<unk>"]
  const pieces: Array<[string, number]> = [
    ...special.map((p): [string, number] => [p, 0]),
    ["\u2581", -2],
    ...[...LETTERS].map((c, i): [string, number] => [c, -3 - i / 100]),
    ...["the", "movie", "was", "good", "bad"].map((w, i): [string, number] => [`\u2581${w}`, -2.5 - i / 100]),
  ]
  const metaspace = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "always", split: true }
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: special.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: metaspace,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "</s>", type_id: 0 } }],
      pair: [
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "</s>", type_id: 0 } },
        { Sequence: { id: "B", type_id: 0 } },
        { SpecialToken: { id: "</s>", type_id: 0 } },
      ],
      special_tokens: { "</s>": { id: "</s>", ids: [1], tokens: ["</s>"] } },
    },
    decoder: metaspace,
    model: { type: "Unigram", unk_id: 2, vocab: pieces, byte_fallback: false },
  }
}

/** A small BERT-style WordPiece `tokenizer.json` ([PAD] 0, [UNK] 1, …): another model family. */
export const bertTokenizer = () => {
  const words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ...LETTERS, ...[...LETTERS].map((c) => `##${c}`), "the", "movie"]
  return {
    version: "1.0",
    added_tokens: words.slice(0, 5).map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: null,
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: {
      type: "WordPiece",
      unk_token: "[UNK]",
      continuing_subword_prefix: "##",
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(words.map((w, i) => [w, i])),
    },
  }
}

/** One repo in the cache: `refs/<ref>` → `sha`, `snapshots/<sha>/<file>` → `../../blobs/<sha256>`. */
export const putRepo = (repoDir: string, sha: string, files: Record<string, Uint8Array>, refs: readonly string[] = ["main"]) => {
  mkdirSync(join(repoDir, "refs"), { recursive: true })
  for (const r of refs) writeFileSync(join(repoDir, "refs", r), sha)
  for (const [name, bytes] of Object.entries(files)) {
    const blob = join(repoDir, "blobs", createHash("sha256").update(bytes).digest("hex"))
    mkdirSync(dirname(blob), { recursive: true })
    writeFileSync(blob, bytes)
    const link = join(repoDir, "snapshots", sha, name)
    mkdirSync(dirname(link), { recursive: true })
    symlinkSync(relative(dirname(link), blob), link)
  }
}

const enc = (s: string) => new TextEncoder().encode(s)
const WORDS = ["good", "bad", "great", "awful", "fine", "poor", "nice", "sad"]
export const movieRows = (n: number, seed: number) =>
  Array.from({ length: n }, (_, i) => {
    const w = WORDS[(i * 7 + seed) % WORDS.length]
    return { sentence: `the movie was ${w}`, label: ["good", "great", "fine", "nice"].includes(w) ? "positive" : "negative" }
  })

export const parquetOf = (rows: ReadonlyArray<Record<string, string>>, columns: readonly string[]) =>
  new Uint8Array(
    parquetWriteBuffer({ columnData: columns.map((name) => ({ name, data: rows.map((r) => r[name]), type: "STRING" })) }),
  )

/**
 * `<dir>/hub`: `models--org--tiny` (main and `v2`, a T5 with a T5-style tokenizer.json),
 * `datasets--org--movies` (Parquet splits under `data/`, columns sentence and label) and
 * `datasets--org--moviesjsonl` (`train.jsonl`, `validation.jsonl`).
 */
export const buildHubCache = async (dir: string) => {
  const model = await tinyCheckpoint(join(dir, "tiny-src"))
  const config = JSON.parse(readFileSync(join(model, "config.json"), "utf8")) as Record<string, unknown>
  delete config.spot_tokenizer
  const files = {
    "config.json": enc(JSON.stringify(config, null, 2)),
    "model.safetensors": new Uint8Array(readFileSync(join(model, "model.safetensors"))),
    "tokenizer.json": enc(JSON.stringify(t5Tokenizer())),
  }
  const hub = join(dir, "hub")
  putRepo(join(hub, "models--org--tiny"), SHA_MAIN, files)
  putRepo(join(hub, "models--org--tiny"), SHA_V2, files, ["v2"])
  const cols = ["sentence", "label"]
  putRepo(join(hub, "datasets--org--movies"), SHA_MAIN, {
    "README.md": enc("# movies"),
    "data/train-00000-of-00001.parquet": parquetOf(movieRows(24, 0), cols),
    "data/validation-00000-of-00001.parquet": parquetOf(movieRows(8, 3), cols),
  })
  const jsonl = (rows: ReadonlyArray<Record<string, unknown>>) => enc(`${rows.map((r) => JSON.stringify(r)).join("\n")}\n`)
  putRepo(join(hub, "datasets--org--moviesjsonl"), SHA_MAIN, {
    "train.jsonl": jsonl(movieRows(24, 0)),
    "validation.jsonl": jsonl(movieRows(8, 3)),
  })
  // GLUE SST-2 as Hugging Face stores it (integer labels)
  putRepo(join(hub, "datasets--org--sst2"), SHA_MAIN, {
    "train.jsonl": jsonl(movieRows(4, 0).map((r, idx) => ({ sentence: r.sentence, label: r.label === "positive" ? 1 : 0, idx }))),
  })
  return { hub, snapshot: join(hub, "models--org--tiny", "snapshots", SHA_MAIN) }
}
