/** `spot library copy <from> <to>`: every entry of one store into another (folder ↔ PostgreSQL). */
import { Library, type PromptLibrary } from "@spot/core"
import { Console, Context, Effect, Layer } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { libraryLayer } from "../library-store.ts"
import { printJson } from "../output.ts"

/** Copies every readable entry of `from` into `to` (seeds merge into existing entries); damaged ones are listed. */
export const copyLibrary = (from: PromptLibrary.LibraryStore, to: PromptLibrary.LibraryStore) =>
  Effect.gen(function* () {
    const listing = yield* from.list
    const copied: string[] = []
    const skipped: Array<{ name: string; reason: string }> = [...listing.damaged]
    for (const meta of listing.entries) {
      const entry = yield* Effect.result(from.get(meta.name))
      if (entry._tag === "Failure") {
        skipped.push({ name: meta.name, reason: entry.failure.message })
        continue
      }
      yield* to.put(entry.success)
      copied.push(meta.name)
    }
    return { copied, skipped }
  })

export const copy = Command.make(
  "copy",
  {
    from: Argument.String("from").pipe(Argument.withDescription("library folder or postgres:// URL to read")),
    to: Argument.String("to").pipe(Argument.withDescription("library folder or postgres:// URL to write (created if missing)")),
    json: Flag.Boolean("json").pipe(Flag.withDefault(false)),
  },
  (f) =>
    Effect.gen(function* () {
      // both stores live until the command's scope closes (a PostgreSQL pool is a scoped resource)
      const from = Context.get(yield* Layer.build(libraryLayer(f.from)), Library)
      const to = Context.get(yield* Layer.build(libraryLayer(f.to, { create: true })), Library)
      const r: { copied: string[]; skipped: Array<{ name: string; reason: string }> } = yield* copyLibrary(from, to)
      if (f.json) return yield* printJson({ from: from.location, to: to.location, ...r })
      yield* Console.log(`copied ${r.copied.length} entries from ${from.location} to ${to.location}`)
      for (const s of r.skipped) yield* Console.error(`skipped ${s.name}: ${s.reason}`)
    }).pipe(Effect.scoped),
).pipe(Command.withDescription("Copy every entry of one library into another (folder or postgres://)."))
