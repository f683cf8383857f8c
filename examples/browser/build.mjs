// Bundles the browser example with esbuild (dist/main.js); `--library` also regenerates library.json.
//   node examples/browser/build.mjs [--library]
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"

const root = fileURLToPath(new URL("../../", import.meta.url))
const src = (p) => `${root}packages/${p}/src/index.ts`
const alias = {
  "@spot/core": src("core"),
  "@spot/backend-webgpu": src("backend-webgpu"),
  "@spot/backend-cuda": src("backend-cuda"),
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
    alias,
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
      alias,
      external: ["onnxruntime-node", "webgpu", "@effect/platform-node"],
      logLevel: "warning",
    })
    execFileSync(process.execPath, [out], { cwd: root, stdio: "inherit" })
  }
}
