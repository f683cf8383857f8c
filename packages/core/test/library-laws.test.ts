import { NodeServices } from "@effect/platform-node"
import { makeDirectoryLibrary } from "@spot/core"
import { Effect } from "effect"
import { libraryLaws } from "./library-laws.ts"
import { tempDirs } from "./node-util.ts"

const temp = tempDirs("spot-laws-")

libraryLaws("directory", () => Effect.suspend(() => makeDirectoryLibrary(temp()).pipe(Effect.provide(NodeServices.layer))))
