/**
 * The task-embedding recipe as a value. Retrieval compares a target's embedding with library
 * entries' embeddings, which only means something when both were made the same way; so every
 * producer (spot train's early checkpoint, spot transfer, the study, the demo, library add/import)
 * records the recipe in the seed's provenance (`embedding_recipe`, canonical JSON), and retrieval
 * refuses to compare embeddings of different recipes unless the caller opts in.
 *
 * - `early-checkpoint` (the paper's): the prompt-tuning run's own checkpoint after `steps` steps,
 *   from the shared vocabulary-sampled init, with the run's lr, batch and optimizer.
 * - `uniform-init`: `steps` steps from a uniform [-0.5, 0.5] init shared by every task at a seed.
 */
import { Effect, Result, Schema } from "effect"
import { InputError } from "../errors.ts"

export class RecipeMismatch extends Schema.TaggedError<RecipeMismatch>()("RecipeMismatch", {
  /** Where the expected recipe came from (the target, `--embedding-recipe`, …). */
  expectedFrom: Schema.String,
  expected: Schema.String,
  /** The library entry (name#seed) whose embedding was made otherwise. */
  entry: Schema.String,
  found: Schema.String,
  message: Schema.String,
}) {}

export const EmbeddingRecipe = Schema.Struct({
  kind: Schema.Literals(["early-checkpoint", "uniform-init"]),
  steps: Schema.Int.check(Schema.isGreaterThan(0)),
  lr: Schema.Finite.check(Schema.isGreaterThan(0)),
  batch: Schema.Int.check(Schema.isGreaterThan(0)),
  /** The init the steps start from: `vocab` (sampled without replacement), `vocab-with-replacement` (the earlier sampler) or `uniform`. */
  init: Schema.Literals(["vocab", "vocab-with-replacement", "uniform"]),
  optimizer: Schema.Literals(["adafactor", "adafactor-hf"]),
})
export type EmbeddingRecipe = typeof EmbeddingRecipe.Type

/** The provenance key under which a seed's recipe is stored. */
export const PROVENANCE_KEY = "embedding_recipe"

/** Canonical text of a recipe (fixed key order), used for storage and equality. */
export const encodeRecipe = (r: EmbeddingRecipe): string =>
  JSON.stringify({ kind: r.kind, steps: r.steps, lr: r.lr, batch: r.batch, init: r.init, optimizer: r.optimizer })

export const sameRecipe = (a: EmbeddingRecipe, b: EmbeddingRecipe) => encodeRecipe(a) === encodeRecipe(b)

/** Short human form: `early-checkpoint(steps 10, lr 0.3, batch 32, vocab, adafactor)`. */
export const showRecipe = (r: EmbeddingRecipe | undefined): string =>
  r ? `${r.kind}(steps ${r.steps}, lr ${r.lr}, batch ${r.batch}, ${r.init}, ${r.optimizer})` : "unknown (no recipe recorded)"

/** The paper's recipe: the early checkpoint of the prompt-tuning run. */
export const earlyCheckpoint = (o: { steps: number; lr: number; batch: number }): EmbeddingRecipe => ({
  kind: "early-checkpoint",
  ...o,
  init: "vocab",
  optimizer: "adafactor",
})

/** Steps from the uniform init shared by every task at a seed. */
export const uniformInit = (o: { steps: number; lr: number; batch: number }): EmbeddingRecipe => ({
  kind: "uniform-init",
  ...o,
  init: "uniform",
  optimizer: "adafactor",
})

export const RECIPE_KINDS = ["early-checkpoint", "uniform-init"] as const

/** The default recipe kind, chosen by measurement (docs/benchmarks.md, "Task-embedding recipes"). */
export const DEFAULT_KIND: (typeof RECIPE_KINDS)[number] = "early-checkpoint"

/** Decodes a recipe from its canonical JSON (a provenance value, a flag, a spec field). */
export const decodeRecipe = (text: string, field: string): Result.Result<EmbeddingRecipe, InputError> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    return Result.fail(new InputError({ field, message: `not JSON: ${(e as Error).message}` }))
  }
  return Result.mapError(
    Schema.decodeUnknownResult(EmbeddingRecipe)(json),
    (e) => new InputError({ field, message: `not an embedding recipe: ${e.message}` }),
  )
}

/** The recipe recorded in a seed's provenance: undefined when none; an error when damaged. */
export const recipeOf = (
  provenance: Readonly<Record<string, string>>,
  field: string,
): Result.Result<EmbeddingRecipe | undefined, InputError> => {
  const text = provenance[PROVENANCE_KEY]
  return text === undefined ? Result.succeed(undefined) : decodeRecipe(text, field)
}

export interface RecipeHolder {
  readonly name: string
  readonly seeds: ReadonlyArray<{
    readonly seed: number
    readonly provenance: Readonly<Record<string, string>>
    /** Seeds without a task embedding are not retrieval candidates and are not checked. */
    readonly embedding?: unknown
  }>
}

/**
 * Checks that every seed of `entries` with an embedding was made by `expected`. Fails with a
 * `RecipeMismatch` naming both recipes (an entry without a recorded recipe counts as a mismatch)
 * unless `allowMixed`.
 */
export const checkRecipes = (
  expected: EmbeddingRecipe,
  expectedFrom: string,
  entries: readonly RecipeHolder[],
  allowMixed = false,
): Effect.Effect<void, RecipeMismatch | InputError> =>
  Effect.gen(function* () {
    if (allowMixed) return
    for (const e of entries) {
      for (const s of e.seeds) {
        if (s.embedding === undefined) continue
        const found = yield* Effect.fromResult(recipeOf(s.provenance, `${e.name}#${s.seed} ${PROVENANCE_KEY}`))
        if (found && sameRecipe(found, expected)) continue
        return yield* new RecipeMismatch({
          expectedFrom,
          expected: showRecipe(expected),
          entry: `${e.name}#${s.seed}`,
          found: showRecipe(found),
          message: `the target embedding is ${showRecipe(expected)} (${expectedFrom}) but library entry ${e.name}#${s.seed} was embedded by ${showRecipe(found)}; embeddings of different recipes are not comparable (opt in with --allow-mixed-recipes)`,
        })
      }
    }
  })

/** The one recipe all `entries` agree on; undefined when they hold none; a `RecipeMismatch` when they disagree. */
export const commonRecipe = (
  entries: readonly RecipeHolder[],
): Effect.Effect<EmbeddingRecipe | undefined, RecipeMismatch | InputError> =>
  Effect.gen(function* () {
    for (const e of entries) {
      for (const s of e.seeds) {
        if (s.embedding === undefined) continue
        const r = yield* Effect.fromResult(recipeOf(s.provenance, `${e.name}#${s.seed} ${PROVENANCE_KEY}`))
        if (r) {
          yield* checkRecipes(r, `library entry ${e.name}#${s.seed}`, entries)
          return r
        }
      }
    }
    return undefined
  })
