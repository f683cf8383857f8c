/**
 * The Hugging Face cache layout read offline (a cache the test fabricates: refs/main → snapshots/<sha>,
 * files as symlinks into blobs/), split files of a dataset snapshot, and tokenizer discovery with its
 * typed mismatch errors.
 */
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { Hub, TokenizerDiscovery, Tokenizers } from "@spot/core"
import { ConfigProvider, Effect, Option, Result } from "effect"
import { describe, expect, it } from "vitest"
import { SHARED } from "./fixtures.ts"
import { tempDirs } from "./node-util.ts"

const temp = tempDirs("spot-hub-")
const run = <A, E>(eff: Effect.Effect<A, E, never>) => Effect.runPromise(Effect.result(eff))
const SHA = "0123456789abcdef0123456789abcdef01234567"

/** models--org--name with refs/main and one snapshot whose files link into blobs/. */
const fabricate = (cache: string, kind: "models" | "datasets", repo: string, files: Record<string, string>) => {
  const root = join(cache, `${kind}--${repo.replace("/", "--")}`)
  mkdirSync(join(root, "refs"), { recursive: true })
  writeFileSync(join(root, "refs", "main"), SHA)
  mkdirSync(join(root, "blobs"), { recursive: true })
  let i = 0
  for (const [name, text] of Object.entries(files)) {
    const blob = join(root, "blobs", `blob${i++}`)
    writeFileSync(blob, text)
    const link = join(root, "snapshots", SHA, name)
    mkdirSync(join(link, ".."), { recursive: true })
    symlinkSync(blob, link)
  }
  return join(root, "snapshots", SHA)
}

describe("Hub ids and the cache layout", () => {
  it("parses org/name[@revision] and rejects paths", () => {
    expect(Hub.parseRepoId("google/t5-base-lm-adapt", "model")).toEqual(
      Option.some({ kind: "model", repo: "google/t5-base-lm-adapt", revision: "main" }),
    )
    expect(Option.getOrThrow(Hub.parseRepoId("org/x@v1.0", "model")).revision).toBe("v1.0")
    for (const bad of ["./models/t5", "/abs/dir", "a/b/c", "org/..", "org/x@../../etc", "x"]) {
      expect(Option.isNone(Hub.parseRepoId(bad, "model"))).toBe(true)
    }
  })

  it("resolves refs/main to the snapshot and reads files through the blob links", async () => {
    const cache = temp()
    const snap = fabricate(cache, "models", "org/tiny", { "config.json": "{}" })
    const r = await run(
      Hub.resolveSnapshot({ kind: "model", repo: "org/tiny", revision: "main" }, cache).pipe(Effect.provide(NodeServices.layer)),
    )
    expect(Result.getOrThrow(r)).toBe(snap)
    const bySha = await run(
      Hub.resolveSnapshot({ kind: "model", repo: "org/tiny", revision: SHA }, cache).pipe(Effect.provide(NodeServices.layer)),
    )
    expect(Result.getOrThrow(bySha)).toBe(snap)
  })

  it("a missing repo or revision is a HubError naming what was looked for", async () => {
    const cache = temp()
    fabricate(cache, "models", "org/tiny", { "config.json": "{}" })
    const r1 = await run(
      Hub.resolveSnapshot({ kind: "model", repo: "org/other", revision: "main" }, cache).pipe(Effect.provide(NodeServices.layer)),
    )
    const r2 = await run(
      Hub.resolveSnapshot({ kind: "model", repo: "org/tiny", revision: "v2" }, cache).pipe(Effect.provide(NodeServices.layer)),
    )
    expect(Result.isFailure(r1) && r1.failure._tag === "HubError" && r1.failure.message).toContain("not in the cache")
    expect(Result.isFailure(r2) && r2.failure.file).toContain(join("refs", "v2"))
  })

  it("HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub", async () => {
    const with_ = (env: Record<string, string>) =>
      run(
        Hub.hubCacheDir.pipe(
          Effect.provide(NodeServices.layer),
          Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env })),
        ),
      )
    expect(Result.getOrThrow(await with_({ HF_HUB_CACHE: "/c", HF_HOME: "/h", HOME: "/u" }))).toBe("/c")
    expect(Result.getOrThrow(await with_({ HF_HOME: "/h", HOME: "/u" }))).toBe("/h/hub")
    expect(Result.getOrThrow(await with_({ HOME: "/u" }))).toBe("/u/.cache/huggingface/hub")
  })

  it("finds a split's files in a dataset snapshot (Hub naming conventions)", async () => {
    const cache = temp()
    const snap = fabricate(cache, "datasets", "org/rte", {
      "README.md": "",
      "data/train-00000-of-00002.parquet": "",
      "data/train-00001-of-00002.parquet": "",
      "data/validation-00000-of-00001.parquet": "",
      "plain/test.jsonl": "",
    })
    const files = Result.getOrThrow(await run(Hub.snapshotFiles(snap).pipe(Effect.provide(NodeServices.layer))))
    expect(Hub.splitFiles(files, "train")).toEqual(["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"])
    expect(Hub.splitFiles(files, "validation")).toEqual(["data/validation-00000-of-00001.parquet"])
    expect(Hub.splitFiles(files, "test", "plain")).toEqual(["plain/test.jsonl"])
    expect(Hub.splitFiles(files, "test", "data")).toEqual([])
  })
})

describe("tokenizer discovery", () => {
  const discover = (name: string, dir: string | undefined, override: string) =>
    run(TokenizerDiscovery.discoverTokenizer(name, dir, override).pipe(Effect.provide(NodeServices.layer)))

  it("tokenizer.json in the model folder, else spiece.model; --tokenizer overrides", async () => {
    const dir = temp()
    copyFileSync(join(SHARED, "fixtures/t5-style-tokenizer/tokenizer.json"), join(dir, "tokenizer.json"))
    const found = Result.getOrThrow(await discover("m", dir, ""))
    expect(found.source).toBe(join(dir, "tokenizer.json"))
    expect(found.tokenizer.kind).toBe("hf")
    expect(Result.getOrThrow(await discover("m", dir, "byte")).tokenizer.kind).toBe("byte")
    const empty = temp()
    writeFileSync(join(empty, "spiece.model"), new Uint8Array([1, 2, 3]))
    const sp = await discover("m", empty, "")
    // the garbage spiece.model is found (and rejected with its own typed error, not replaced by bytes)
    expect(Result.isFailure(sp)).toBe(true)
    if (Result.isFailure(sp)) expect(JSON.stringify(sp.failure)).toContain("spiece.model")
  })

  it("the byte tokenizer only for a declared byte model; otherwise a typed error naming the model", async () => {
    const byteModel = temp()
    writeFileSync(join(byteModel, "config.json"), JSON.stringify({ spot_tokenizer: "byte" }))
    expect(Result.getOrThrow(await discover("micro", byteModel, "")).tokenizer.kind).toBe("byte")
    const plain = temp()
    writeFileSync(join(plain, "config.json"), JSON.stringify({ vocab_size: 32128 }))
    const r = await discover("org/t5", plain, "")
    expect(Result.isFailure(r) && r.failure._tag).toBe("TokenizerMismatch")
    const preset = await discover("random:t5-small", undefined, "")
    expect(Result.isFailure(preset) && preset.failure._tag === "TokenizerMismatch" && preset.failure.model).toBe(
      "random:t5-small",
    )
  })

  it("a tokenizer.json of another model family (BERT's WordPiece, GPT-2's BPE: no </s>) is refused, naming the file", () => {
    const specials = (names: string[]) => names.map((content, id) => ({ id, content, special: true, normalized: false }))
    const letters = [..."abcdefghijklmnopqrstuvwxyz"]
    const bert = {
      added_tokens: specials(["[PAD]", "[UNK]", "[CLS]", "[SEP]"]),
      normalizer: null,
      pre_tokenizer: { type: "BertPreTokenizer" },
      post_processor: null,
      decoder: { type: "WordPiece", prefix: "##", cleanup: true },
      model: {
        type: "WordPiece",
        unk_token: "[UNK]",
        continuing_subword_prefix: "##",
        max_input_chars_per_word: 100,
        vocab: Object.fromEntries(["[PAD]", "[UNK]", "[CLS]", "[SEP]", ...letters].map((w, i) => [w, i])),
      },
    }
    const vocab = Object.fromEntries([...letters, "<|endoftext|>"].map((w, i) => [w, i]))
    const gpt2 = {
      added_tokens: [{ id: 26, content: "<|endoftext|>", special: true, normalized: true }],
      normalizer: null,
      pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: null,
      decoder: { type: "ByteLevel" },
      model: { type: "BPE", vocab, merges: [], unk_token: null },
    }
    for (const [json, file] of [
      [bert, "bert/tokenizer.json"],
      [gpt2, "gpt2/tokenizer.json"],
    ] as const) {
      const r = Tokenizers.fromTokenizerJson(json, {}, file)
      expect(Result.isFailure(r) && r.failure.field).toBe(`${file}: </s>`)
    }
    // the T5-style fixture has </s> and loads
    const t5 = JSON.parse(readFileSync(join(SHARED, "fixtures/t5-style-tokenizer/tokenizer.json"), "utf8"))
    expect(Result.isSuccess(Tokenizers.fromTokenizerJson(t5))).toBe(true)
  })

  it("a 32k model with the byte tokenizer, or a tokenizer larger than the model, is a TokenizerMismatch naming both", () => {
    const r = TokenizerDiscovery.checkTokenizerFits(Tokenizers.byteTokenizer, "byte", 32128, "random:t5-small")
    expect(Result.isFailure(r)).toBe(true)
    if (Result.isFailure(r)) {
      expect(r.failure.tokenizer).toBe("byte")
      expect(r.failure.model).toBe("random:t5-small")
    }
    expect(Result.isSuccess(TokenizerDiscovery.checkTokenizerFits(Tokenizers.byteTokenizer, "byte", 275, "micro"))).toBe(true)
    const big = { ...Tokenizers.byteTokenizer, kind: "hf" as const, vocabSize: 250_000 }
    const r2 = TokenizerDiscovery.checkTokenizerFits(big, "mt5/tokenizer.json", 32128, "t5")
    expect(Result.isFailure(r2) && r2.failure.message).toContain("250000")
  })
})
