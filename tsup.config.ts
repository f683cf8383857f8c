import { readFileSync } from "node:fs"
import { defineConfig } from "tsup"

/**
 * Every dependency and peer a package declares stays an import in its dist (never bundled): the root
 * package.json, where tsup looks by default, declares none of them.
 */
const externals = (name: string) => {
  const p = JSON.parse(readFileSync(`packages/${name}/package.json`, "utf8"))
  const names = [...Object.keys(p.dependencies ?? {}), ...Object.keys(p.peerDependencies ?? {})]
  return [/^@spot\//, ...names.map((n) => new RegExp(`^${n.replace(/[/.]/g, "\\$&")}(/.*)?$`))]
}

// One build for the monorepo but the core: each library package gets ESM + .d.ts, the CLI one executable bundle.
const lib = (name: string, entry: Record<string, string> = { index: `packages/${name}/src/index.ts` }) =>
  defineConfig({
    entry,
    outDir: `packages/${name}/dist`,
    format: "esm",
    dts: true,
    sourcemap: true,
    clean: true,
    target: "es2022",
    external: externals(name),
  })

export default [
  // packages/core is built by tsc, one file per module (packages/core/tsconfig.build.json)
  lib("experiments"),
  lib("cluster"),
  lib("backend-cuda"),
  // TypeScript 6's lib.dom declares WebGPU itself: the .d.ts has no @webgpu/types reference, which
  // types/ts5.d.ts adds for TypeScript < 6 (the package's "types@<6" export condition)
  lib("backend-webgpu"),
  defineConfig({
    entry: { main: "packages/cli/src/main.ts" },
    outDir: "packages/cli/dist",
    format: "esm",
    sourcemap: true,
    clean: true,
    target: "node20",
    banner: { js: "#!/usr/bin/env node" },
    external: externals("cli"),
  }),
]
