/** `--model`: a checkpoint folder or a seeded random preset (`random:t5-v1_1-small`). */
import { ConfigError, T5Checkpoint, T5Presets } from "@spot/core"
import { Effect } from "effect"

export const loadModel = (spec: string) => {
  if (spec.startsWith("random:")) {
    const name = spec.slice("random:".length)
    const config = T5Presets.PRESETS[name]
    if (!config) {
      return Effect.fail(
        new ConfigError({
          file: spec,
          field: "preset",
          message: `unknown preset ${name}; known: ${Object.keys(T5Presets.PRESETS).join(", ")}`,
        }),
      )
    }
    return Effect.sync(() => T5Presets.randomT5(config, 0, spec))
  }
  return T5Checkpoint.loadCheckpoint(spec)
}
