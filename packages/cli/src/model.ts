/**
 * `--model`: a checkpoint folder, a Hugging Face id `org/name[@revision]` (the local cache, else a
 * download into it), or a seeded random preset (`random:t5-v1_1-small`).
 */
import { ConfigError, Hub, T5Checkpoint, T5Presets } from "@spot/core"
import { Effect, FileSystem, Option } from "effect"
import { resolveRepo } from "./hub.ts"

/** The model and the folder it came from (none for a random preset). */
export const resolveModel = (spec: string) =>
  Effect.gen(function* () {
    if (spec.startsWith("random:")) {
      const name = spec.slice("random:".length)
      const config = T5Presets.PRESETS[name]
      if (!config) {
        return yield* new ConfigError({
          file: spec,
          field: "preset",
          message: `unknown preset ${name}; known: ${Object.keys(T5Presets.PRESETS).join(", ")}`,
        })
      }
      return { model: T5Presets.randomT5(config, 0, spec), dir: undefined as string | undefined }
    }
    const fs = yield* FileSystem.FileSystem
    const isDir = yield* fs.stat(spec).pipe(
      Effect.map((s) => s.type === "Directory"),
      Effect.orElseSucceed(() => false),
    )
    const repo = isDir ? Option.none() : Hub.parseRepoId(spec, "model")
    const dir = Option.isSome(repo) ? yield* resolveRepo(repo.value) : spec
    return { model: yield* T5Checkpoint.loadCheckpoint(dir), dir: dir as string | undefined }
  })

export const loadModel = (spec: string) => Effect.map(resolveModel(spec), (r) => r.model)
