import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

/** `shared/` sits beside the checkout (sessions, CI) or inside it (device runs); one level deeper from dist/test/. */
const candidates = ["../../../../shared", "../../../shared", "../../../../../shared"].map((p) =>
  fileURLToPath(new URL(p, import.meta.url)),
)
export const SHARED = candidates.find((p) => existsSync(`${p}/fixtures`)) ?? candidates[0]
export const FIXTURES = ["t5-tiny", "t5v1_1-tiny", "t5v1_1-untied-tiny"] as const
export const fixtureDir = (name: string) => `${SHARED}/fixtures/hf-t5-parity/${name}`
