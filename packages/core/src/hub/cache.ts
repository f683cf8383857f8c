/**
 * The Hugging Face Hub cache layout, read offline (as `huggingface_hub` writes it):
 *
 * ```
 * $HF_HUB_CACHE (default $HF_HOME/hub, default ~/.cache/huggingface/hub)
 *   models--org--name/
 *     refs/main                 the commit sha that "main" points to (one line)
 *     snapshots/<sha>/…         the files of that commit (symlinks into blobs/)
 *     blobs/<etag>
 *   datasets--org--name/        the same for datasets
 * ```
 *
 * `org/name@revision` resolves through `refs/<revision>` (or a commit sha directly) to
 * `snapshots/<sha>/`. Environment variables come through Effect's `Config` (the environment on
 * Node, Deno and Bun; nothing in a browser, where callers pass the cache folder).
 */
import { Config, Effect, FileSystem, Option, Path } from "effect"
import { HubError } from "../errors.ts"

export type RepoKind = "model" | "dataset"

export interface HubRepo {
  readonly kind: RepoKind
  /** `org/name` */
  readonly repo: string
  readonly revision: string
}

const PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
const SHA = /^[0-9a-f]{40}$/
const REVISION = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/

/**
 * `org/name` or `org/name@revision` as a Hub id, or none when `spec` is not one (a path such as
 * `./models/t5` or `/abs/dir` is not). Revisions may not climb out of `refs/` (`..` is rejected).
 */
export const parseRepoId = (spec: string, kind: RepoKind): Option.Option<HubRepo> => {
  const at = spec.indexOf("@")
  const id = at < 0 ? spec : spec.slice(0, at)
  const revision = at < 0 ? "main" : spec.slice(at + 1)
  const parts = id.split("/")
  if (parts.length !== 2 || !parts.every((p) => PART.test(p) && p !== "." && p !== "..")) return Option.none()
  if (!REVISION.test(revision) || revision.split("/").includes("..")) return Option.none()
  return Option.some({ kind, repo: id, revision })
}

/** The folder name of a repo in the cache: `models--org--name`. */
export const repoFolderName = (r: Pick<HubRepo, "kind" | "repo">): string => `${r.kind}s--${r.repo.split("/").join("--")}`

/** The cache folder: `HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`. */
export const hubCacheDir = Effect.gen(function* () {
  const path = yield* Path.Path
  const get = (name: string) => Config.option(Config.String(name)).pipe(Effect.orElseSucceed(() => Option.none<string>()))
  const explicit = yield* get("HF_HUB_CACHE")
  if (Option.isSome(explicit) && explicit.value !== "") return explicit.value
  const home = yield* get("HF_HOME")
  if (Option.isSome(home) && home.value !== "") return path.join(home.value, "hub")
  const user = yield* get("HOME")
  return path.join(
    Option.getOrElse(user, () => "."),
    ".cache",
    "huggingface",
    "hub",
  )
})

/**
 * The snapshot folder of `repo` in `cache`: `refs/<revision>` names the commit, or `revision` is a
 * commit sha whose snapshot is present. Fails with a `HubError` naming what was looked for.
 */
export const resolveSnapshot = (repo: HubRepo, cache: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const root = path.join(cache, repoFolderName(repo))
    const exists = (f: string) => fs.exists(f).pipe(Effect.orElseSucceed(() => false))
    const id = `${repo.repo}@${repo.revision}`
    if (!(yield* exists(root))) {
      return yield* new HubError({ repo: id, file: root, message: `${repo.kind} ${repo.repo} is not in the cache ${cache}` })
    }
    let sha = repo.revision
    if (!SHA.test(repo.revision)) {
      const ref = path.join(root, "refs", repo.revision)
      if (!(yield* exists(ref))) {
        return yield* new HubError({
          repo: id,
          file: ref,
          message: `revision ${repo.revision} of ${repo.repo} is not in the cache (no refs/${repo.revision})`,
        })
      }
      sha = (yield* fs
        .readFileString(ref)
        .pipe(Effect.mapError((e) => new HubError({ repo: id, file: ref, message: e.message })))).trim()
      if (!SHA.test(sha)) {
        return yield* new HubError({ repo: id, file: ref, message: `refs/${repo.revision} does not hold a commit sha` })
      }
    }
    const snapshot = path.join(root, "snapshots", sha)
    if (!(yield* exists(snapshot))) {
      return yield* new HubError({ repo: id, file: snapshot, message: `the snapshot of commit ${sha} is missing` })
    }
    return snapshot
  })

/** Files of a snapshot (paths relative to it, `/`-separated), recursively, sorted. */
export const snapshotFiles = (snapshot: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const files = yield* fs
      .readDirectory(snapshot, { recursive: true })
      .pipe(Effect.mapError((e) => new HubError({ repo: snapshot, file: snapshot, message: e.message })))
    const out: string[] = []
    for (const f of files) {
      const info = yield* fs.stat(`${snapshot}/${f}`).pipe(Effect.option)
      if (Option.isSome(info) && info.value.type === "File") out.push(f.split("\\").join("/"))
    }
    return out.sort()
  })

const DATA_EXT = /\.(parquet|jsonl|json|csv|tsv)$/

/**
 * The data files of one split in a dataset snapshot, as the Hub's conventions name them:
 * `<split>.jsonl`, `<split>-00000-of-00001.parquet`, `data/<split>-….parquet`, `<config>/<split>/…`,
 * optionally restricted to one config's folder. Sorted, so shards come in order.
 */
export const splitFiles = (files: readonly string[], split: string, config?: string): string[] =>
  files.filter((f) => {
    if (!DATA_EXT.test(f)) return false
    const parts = f.split("/")
    if (config !== undefined && parts[0] !== config) return false
    const base = parts[parts.length - 1]
    const dirs = parts.slice(0, -1)
    return dirs.includes(split) || base.startsWith(`${split}-`) || base.startsWith(`${split}.`)
  })
