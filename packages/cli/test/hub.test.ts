/**
 * Hub ids without the Hub: the download path against a local HTTP server on 127.0.0.1 that serves
 * the Hub's file URLs (`/org/name/resolve/<rev>/<file>` with `etag`/`x-repo-commit` and range
 * support, `paths-info`, `tree`), writing the standard cache layout; and `spot train --model org/name
 * --train org/dataset:train` offline from a fabricated cache (Parquet splits, column mapping).
 */
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { Hub, T5Checkpoint } from "@spot/core"
import { ConfigProvider, Effect, Result } from "effect"
import { parquetWriteBuffer } from "hyparquet-writer"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { resolveRepo } from "../src/hub.ts"
import { spot, tempDir, tinyCheckpoint, writeTask } from "./helpers.ts"

const COMMIT = "abcdef0123456789abcdef0123456789abcdef01"

/** A Hub look-alike for one model and one dataset; records every request. */
const hubServer = (repos: Record<string, Record<string, Uint8Array>>) => {
  const requests: string[] = []
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`)
    const url = new URL(req.url ?? "/", "http://x")
    const api = url.pathname.match(/^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/(paths-info|tree)\/([^/?]+)/)
    if (api) {
      const key = `${api[1]}/${api[2]}`
      const files = repos[key] ?? {}
      const info = (p: string) => ({
        type: "file",
        path: p,
        oid: createHash("sha1").update(files[p]).digest("hex"),
        size: files[p].length,
        lastCommit: { id: COMMIT, title: "init", date: "2026-01-01T00:00:00Z" },
      })
      if (api[3] === "tree") {
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify(Object.keys(files).map(info)))
        return
      }
      let body = ""
      req.on("data", (c) => {
        body += c
      })
      req.on("end", () => {
        const paths = (JSON.parse(body) as { paths: string[] }).paths.filter((p) => p in files)
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify(paths.map(info)))
      })
      return
    }
    const file = url.pathname.match(/^\/(datasets\/)?([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/)
    const key = file ? `${file[1] ? "datasets" : "models"}/${file[2]}` : ""
    const data = file ? repos[key]?.[decodeURIComponent(file[4])] : undefined
    if (!file || data === undefined) {
      res.writeHead(404, { "x-error-code": "EntryNotFound" })
      res.end()
      return
    }
    const headers = {
      etag: `"${createHash("sha1").update(data).digest("hex")}"`,
      "x-repo-commit": COMMIT,
      "accept-ranges": "bytes",
      "content-type": "application/octet-stream",
    }
    const range = req.headers.range?.match(/bytes=(\d+)-(\d*)/)
    if (range) {
      const start = Number(range[1])
      const end = range[2] === "" ? data.length - 1 : Math.min(Number(range[2]), data.length - 1)
      res.writeHead(206, { ...headers, "content-range": `bytes ${start}-${end}/${data.length}` })
      res.end(data.subarray(start, end + 1))
    } else {
      res.writeHead(200, { ...headers, "content-length": String(data.length) })
      res.end(data)
    }
  })
  return { server, requests }
}

let dir: string
let modelFiles: Record<string, Uint8Array>
let hub: { server: Server; requests: string[] }
let endpoint: string

beforeAll(async () => {
  dir = tempDir()
  const model = await tinyCheckpoint(join(dir, "tiny"))
  const config = { ...JSON.parse(readFileSync(join(model, "config.json"), "utf8")), spot_tokenizer: "byte" }
  modelFiles = {
    "config.json": new TextEncoder().encode(JSON.stringify(config)),
    "model.safetensors": new Uint8Array(readFileSync(join(model, "model.safetensors"))),
  }
  hub = hubServer({
    "models/org/tiny": modelFiles,
    "datasets/org/pairs": {
      "README.md": new TextEncoder().encode("# pairs"),
      "data/train-00000-of-00001.jsonl": new TextEncoder().encode('{"input":"a","target":"b"}\n'),
      "data/validation-00000-of-00001.jsonl": new TextEncoder().encode('{"input":"c","target":"d"}\n'),
    },
  })
  await new Promise<void>((r) => hub.server.listen(0, "127.0.0.1", r))
  endpoint = `http://127.0.0.1:${(hub.server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((r) => hub.server.close(() => r())))

const withEnv = <A, E>(eff: Effect.Effect<A, E, never>, env: Record<string, string>) =>
  Effect.runPromise(
    Effect.result(eff.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env })))),
  )

describe("Hub ids", () => {
  it("downloads a model that is not cached into the cache layout, then resolves it offline", async () => {
    const cache = join(dir, "cache-dl")
    const repo = { kind: "model", repo: "org/tiny", revision: "main" } as const
    const r = await withEnv(resolveRepo(repo).pipe(Effect.provide(NodeServices.layer)), {
      HF_HUB_CACHE: cache,
      HF_ENDPOINT: endpoint,
    })
    const snapshot = Result.getOrThrow(r)
    const root = join(cache, "models--org--tiny")
    expect(snapshot).toBe(join(root, "snapshots", COMMIT))
    expect(readFileSync(join(root, "refs", "main"), "utf8")).toBe(COMMIT)
    // files are links into blobs/, named by their etag
    expect(readlinkSync(join(snapshot, "model.safetensors"))).toContain("blobs")
    expect(new Uint8Array(readFileSync(join(snapshot, "model.safetensors")))).toEqual(modelFiles["model.safetensors"])
    expect(hub.requests.some((q) => q.startsWith("GET /org/tiny/resolve/main/model.safetensors"))).toBe(true)
    const loaded = await Effect.runPromise(T5Checkpoint.loadCheckpoint(snapshot).pipe(Effect.provide(NodeServices.layer)))
    expect(loaded.config.dModel).toBe(16)
    // cached now: offline resolution makes no request
    const before = hub.requests.length
    const again = await withEnv(resolveRepo(repo).pipe(Effect.provide(NodeServices.layer)), {
      HF_HUB_CACHE: cache,
      HF_ENDPOINT: endpoint,
      HF_HUB_OFFLINE: "1",
    })
    expect(Result.getOrThrow(again)).toBe(snapshot)
    expect(hub.requests.length).toBe(before)
  })

  it("downloads only the asked split of a dataset that is not cached", async () => {
    const cache = join(dir, "cache-ds")
    const repo = { kind: "dataset", repo: "org/pairs", revision: "main" } as const
    const r = await withEnv(resolveRepo(repo, "train").pipe(Effect.provide(NodeServices.layer)), {
      HF_HUB_CACHE: cache,
      HF_ENDPOINT: endpoint,
    })
    const snapshot = Result.getOrThrow(r)
    expect(snapshot).toBe(join(cache, "datasets--org--pairs", "snapshots", COMMIT))
    expect(readFileSync(join(snapshot, "data/train-00000-of-00001.jsonl"), "utf8")).toContain('"input":"a"')
    expect(existsSync(join(snapshot, "data/validation-00000-of-00001.jsonl"))).toBe(false)
    expect(hub.requests.some((q) => q.startsWith("GET /api/datasets/org/pairs/tree/main"))).toBe(true)
  })

  it("offline and not cached: a HubError naming the repo; unreachable Hub: the same, with the endpoint", async () => {
    const repo = { kind: "model", repo: "org/absent", revision: "main" } as const
    const off = await withEnv(resolveRepo(repo).pipe(Effect.provide(NodeServices.layer)), {
      HF_HUB_CACHE: join(dir, "empty"),
      HF_HUB_OFFLINE: "1",
    })
    expect(Result.isFailure(off) && off.failure._tag === "HubError" && off.failure.repo).toBe("org/absent@main")
    const down = await withEnv(resolveRepo(repo).pipe(Effect.provide(NodeServices.layer)), {
      HF_HUB_CACHE: join(dir, "empty"),
      HF_ENDPOINT: "http://127.0.0.1:9",
    })
    expect(Result.isFailure(down) && down.failure.message).toContain("127.0.0.1:9")
  })

  it("spot train --model org/name --train org/dataset:train works offline from a cache", async () => {
    const cache = join(dir, "cache-offline")
    const sha = "1111111111111111111111111111111111111111"
    const put = (repoDir: string, files: Record<string, Uint8Array>) => {
      mkdirSync(join(repoDir, "refs"), { recursive: true })
      writeFileSync(join(repoDir, "refs", "main"), sha)
      let i = 0
      for (const [name, bytes] of Object.entries(files)) {
        const blob = join(repoDir, "blobs", `b${i++}`)
        mkdirSync(join(blob, ".."), { recursive: true })
        writeFileSync(blob, bytes)
        const link = join(repoDir, "snapshots", sha, name)
        mkdirSync(join(link, ".."), { recursive: true })
        symlinkSync(blob, link)
      }
    }
    put(join(cache, "models--org--tiny"), modelFiles)
    const task = writeTask(dir, "movie-sentiment", 24, 8)
    const parquet = (file: string) => {
      const rows = readFileSync(file, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { input: string; target: string })
      return new Uint8Array(
        parquetWriteBuffer({
          columnData: [
            { name: "sentence", data: rows.map((r) => r.input), type: "STRING" },
            { name: "label", data: rows.map((r) => r.target), type: "STRING" },
          ],
        }),
      )
    }
    put(join(cache, "datasets--org--movies"), {
      "README.md": new TextEncoder().encode("# movies"),
      "data/train-00000-of-00001.parquet": parquet(task.train),
      "data/validation-00000-of-00001.parquet": parquet(task.valid),
    })
    const out = join(dir, "p.safetensors")
    const r = await spot(
      [
        "train",
        "--model",
        "org/tiny",
        "--train",
        "org/movies:train",
        "--valid",
        "org/movies:validation",
        "--input-column",
        "sentence",
        "--target-column",
        "label",
        "--steps",
        "2",
        "--batch",
        "4",
        "--prompt-length",
        "2",
        "--eval-every",
        "2",
        "--checkpoint-dir",
        join(dir, "ck"),
        "--out",
        out,
        "--threads",
        "1",
        "--json",
      ],
      300_000,
      { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: "1", HF_ENDPOINT: "http://127.0.0.1:9" },
    )
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    const last = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as { out: string; steps: number }
    expect(last.out).toBe(out)
    expect(last.steps).toBe(2)
  }, 300_000)

  it("a 32k model with the byte tokenizer is refused with both named", async () => {
    const r = await spot(["eval", "--model", "random:t5-small", "--tokenizer", "byte", "--prompt", "x", "--data", "y"])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain("TokenizerMismatch")
    expect(r.stderr).toContain("random:t5-small")
  })
})

// the cache folder name of a repo, as the fabricated caches above spell it
void Hub.repoFolderName
