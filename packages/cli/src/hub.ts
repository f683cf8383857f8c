/**
 * Hub ids on the command line: `--model org/name[@revision]` and `--train org/dataset[@revision]:split`
 * resolve through the local Hugging Face cache (`Hub.resolveSnapshot`); when a repo is not cached,
 * the files are downloaded with `@huggingface/hub` into that same layout (blobs, snapshots, and a
 * `refs/<revision>` file, which `downloadFileToCacheDir` does not write), unless `HF_HUB_OFFLINE=1`.
 * `HF_ENDPOINT` points at another Hub (tests use a local server). The download module is imported
 * only when needed.
 */
import { Hub, HubError } from "@spot/core"
import { Config, Effect, FileSystem, Option, Path } from "effect"

/** Files a T5 folder may have besides its weights (downloaded when present). */
const MODEL_EXTRAS = [
  "config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "spiece.model",
  "special_tokens_map.json",
  "generation_config.json",
]

const env = (name: string) =>
  Config.option(Config.String(name)).pipe(
    Effect.map(Option.getOrUndefined),
    Effect.orElseSucceed(() => undefined),
  )

const hubFail = (repo: Hub.HubRepo, file: string) => (e: unknown) =>
  new HubError({ repo: `${repo.repo}@${repo.revision}`, file, message: e instanceof Error ? e.message : String(e) })

/** Which files of a repo to fetch: a model's config, tokenizer and weights; a dataset's files of one split. */
const filesToFetch = (repo: Hub.HubRepo, endpoint: string, split: string | undefined) =>
  Effect.tryPromise({
    try: async () => {
      const hub = await import("@huggingface/hub")
      const designation = { type: repo.kind, name: repo.repo } as const
      if (repo.kind === "dataset") {
        const all: string[] = []
        for await (const f of hub.listFiles({ repo: designation, revision: repo.revision, hubUrl: endpoint, recursive: true })) {
          if (f.type === "file") all.push(f.path)
        }
        return split === undefined ? all : Hub.splitFiles(all, split)
      }
      const present = await hub.pathsInfo({
        repo: designation,
        revision: repo.revision,
        hubUrl: endpoint,
        expand: true,
        paths: [...MODEL_EXTRAS, "model.safetensors", "model.safetensors.index.json"],
      })
      const names = new Set(present.map((p) => p.path))
      const files = MODEL_EXTRAS.filter((f) => names.has(f))
      if (names.has("model.safetensors")) return [...files, "model.safetensors"]
      if (names.has("model.safetensors.index.json")) return [...files, "model.safetensors.index.json"]
      return files
    },
    catch: hubFail(repo, endpoint),
  })

/** Downloads `files` of `repo` into `cache` and writes `refs/<revision>`; returns the commit. */
export const downloadToCache = (repo: Hub.HubRepo, cache: string, endpoint: string, split?: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const files = yield* filesToFetch(repo, endpoint, split)
    if (files.length === 0) {
      return yield* new HubError({
        repo: `${repo.repo}@${repo.revision}`,
        file: endpoint,
        message: split === undefined ? "the repo has no files to fetch" : `no data files for split ${split}`,
      })
    }
    const fetchOne = (file: string) =>
      Effect.tryPromise({
        try: async () => {
          const hub = await import("@huggingface/hub")
          // the library logs "Downloading …" with console.debug (stdout): keep stdout for --json results
          const debug = console.debug
          console.debug = (...a: unknown[]) => console.error(...a)
          try {
            return await hub.downloadFileToCacheDir({
              repo: { type: repo.kind, name: repo.repo },
              path: file,
              revision: repo.revision,
              hubUrl: endpoint,
              cacheDir: cache,
            })
          } finally {
            console.debug = debug
          }
        },
        catch: hubFail(repo, file),
      })
    let pointer = ""
    for (const f of files) pointer = yield* fetchOne(f)
    // a sharded checkpoint: its index names the shards
    if (files.includes("model.safetensors.index.json")) {
      const index = JSON.parse(yield* fs.readFileString(pointer).pipe(Effect.mapError(hubFail(repo, pointer)))) as {
        weight_map?: Record<string, string>
      }
      for (const shard of new Set(Object.values(index.weight_map ?? {}))) yield* fetchOne(shard)
    }
    // snapshots/<sha>/<file> → the commit
    const rel = files[files.length - 1].split("/").length
    let snapshot = pointer
    for (let i = 0; i < rel; i++) snapshot = path.dirname(snapshot)
    const sha = path.basename(snapshot)
    if (!/^[0-9a-f]{40}$/.test(repo.revision)) {
      const ref = path.join(cache, Hub.repoFolderName(repo), "refs", repo.revision)
      yield* fs.makeDirectory(path.dirname(ref), { recursive: true }).pipe(Effect.mapError(hubFail(repo, ref)))
      const tmp = `${ref}.tmp-${Date.now().toString(36)}`
      yield* fs.writeFileString(tmp, sha).pipe(
        Effect.flatMap(() => fs.rename(tmp, ref)),
        Effect.mapError(hubFail(repo, ref)),
      )
    }
    return sha
  })

/**
 * The local folder of a Hub repo: the cached snapshot, else (network allowed) a download into the
 * cache. `split` limits a dataset download to one split's files.
 */
export const resolveRepo = (repo: Hub.HubRepo, split?: string) =>
  Effect.gen(function* () {
    const cache = yield* Hub.hubCacheDir
    const cached = yield* Effect.result(Hub.resolveSnapshot(repo, cache))
    if (cached._tag === "Success") return cached.success
    const offline = yield* env("HF_HUB_OFFLINE")
    if (offline === "1" || offline?.toLowerCase() === "true") return yield* Effect.fail(cached.failure)
    const endpoint = (yield* env("HF_ENDPOINT")) ?? "https://huggingface.co"
    yield* downloadToCache(repo, cache, endpoint, split).pipe(
      Effect.mapError(
        (e) =>
          new HubError({
            repo: e.repo,
            file: e.file,
            message: `${cached.failure.message}, and downloading it from ${endpoint} failed: ${e.message}`,
          }),
      ),
    )
    return yield* Hub.resolveSnapshot(repo, cache)
  })

/**
 * `org/name[@revision][/config]:split` → that split's data files in the (cached or downloaded)
 * dataset; none when `spec` is not a Hub dataset spec (a file path).
 */
export const datasetFiles = (spec: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const colon = spec.lastIndexOf(":")
    if (colon <= 0 || (yield* fs.exists(spec).pipe(Effect.orElseSucceed(() => false)))) return undefined
    const split = spec.slice(colon + 1)
    const parts = spec.slice(0, colon).split("/")
    const config = parts.length === 3 ? parts[2] : undefined
    const repo = Hub.parseRepoId(parts.slice(0, 2).join("/"), "dataset")
    if (Option.isNone(repo) || split === "" || parts.length > 3) return undefined
    const snapshot = yield* resolveRepo(repo.value, split)
    const files = Hub.splitFiles(yield* Hub.snapshotFiles(snapshot), split, config)
    if (files.length === 0) {
      return yield* new HubError({
        repo: spec,
        file: snapshot,
        message: `no data files of split ${split}${config ? ` in config ${config}` : ""} in ${snapshot}`,
      })
    }
    const path = yield* Path.Path
    return files.map((f) => path.join(snapshot, f))
  })
