// Bundles the browser example with esbuild (dist/main.js); `--library` also regenerates library.json.
//   node examples/browser/build.mjs [--library]
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"

const root = fileURLToPath(new URL("../../", import.meta.url))
const src = (p) => `${root}packages/${p}/src/index.ts`
// the workspace packages from source, by exact specifier (esbuild's `alias` maps subpaths by prefix,
// which would send `@spot/core/graph` to `…/index.ts/graph`)
const sources = {
  "@spot/core": src("core"),
  "@spot/core/graph": `${root}packages/core/src/graph/index.ts`,
  "@spot/experiments": src("experiments"),
  "@spot/backend-webgpu": src("backend-webgpu"),
  "@spot/backend-cuda": src("backend-cuda"),
}
export const workspace = {
  name: "spot-workspace",
  setup(b) {
    b.onResolve({ filter: /^@spot\// }, (args) => (sources[args.path] ? { path: sources[args.path] } : undefined))
  },
}

export const buildPage = () =>
  build({
    entryPoints: [`${root}examples/browser/main.ts`],
    outfile: `${root}examples/browser/dist/main.js`,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    sourcemap: true,
    plugins: [workspace],
    logLevel: "warning",
  })

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildPage()
  if (process.argv.includes("--library")) {
    const out = `${root}examples/browser/dist/make-library.mjs`
    await build({
      entryPoints: [`${root}examples/browser/make-library.ts`],
      outfile: out,
      bundle: true,
      format: "esm",
      platform: "node",
      target: "node20",
      plugins: [workspace],
      external: ["onnxruntime-node", "webgpu", "@effect/platform-node"],
      logLevel: "warning",
    })
    execFileSync(process.execPath, [out], { cwd: root, stdio: "inherit" })
  }
}
