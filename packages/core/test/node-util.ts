/**
 * Test helpers that need Node (files, the platform services): temp folders removed after a test
 * file, runners of effects on `NodeServices`, and a library entry made of random tensors. Kept apart
 * from `util.ts`, which `@spot/core/testing` ships and browsers load.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import type { PromptLibrary } from "@spot/core"
import { Effect } from "effect"
import { afterAll } from "vitest"
import { randomTensor } from "./util.ts"

/** A maker of fresh temp folders (`<tmp>/<prefix>XXXXXX`), all removed after the test file's tests. */
export const tempDirs = (prefix: string) => {
  const dirs: string[] = []
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })
  return () => {
    const d = mkdtempSync(join(tmpdir(), prefix))
    dirs.push(d)
    return d
  }
}

/** Runs an effect that needs the Node platform services. */
export const runNode = <A, E>(e: Effect.Effect<A, E, NodeServices.NodeServices>) =>
  Effect.runPromise(e.pipe(Effect.provide(NodeServices.layer)))

/** `runNode`, with the failure as a value. */
export const runNodeResult = <A, E>(e: Effect.Effect<A, E, NodeServices.NodeServices>) => runNode(Effect.result(e))

/** A library entry whose prompts and embeddings are random [L, d] tensors, one per seed. */
export const randomEntry = (name: string, seeds: number[], L = 3, d = 4, fp = "fp1"): PromptLibrary.LibraryEntry => ({
  name,
  task: `${name}-task`,
  description: "d",
  model: { fingerprint: fp, dModel: d },
  promptLength: L,
  created: "2026-01-01T00:00:00.000Z",
  seeds: seeds.map((s) => ({
    seed: s,
    source: randomTensor([L, d], s + 10),
    embedding: randomTensor([L, d], s + 20 + name.charCodeAt(0) * 101),
    metrics: { accuracy: 0.5 + s / 100 },
    provenance: { step: String(s) },
  })),
})
