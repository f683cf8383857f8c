import { defineConfig } from "tsup"

// One build for the whole monorepo: each library package gets ESM + .d.ts, the CLI one executable bundle.
const lib = (name: string) =>
  defineConfig({
    entry: { index: `packages/${name}/src/index.ts` },
    outDir: `packages/${name}/dist`,
    format: "esm",
    dts: true,
    sourcemap: true,
    clean: true,
    target: "es2022",
    external: [/^@spot\//, "effect", /^effect\//, "onnxruntime-node", "onnxruntime-common", "onnx-proto", "webgpu"],
  })

export default [
  lib("core"),
  lib("backend-cuda"),
  lib("backend-webgpu"),
  defineConfig({
    entry: { main: "packages/cli/src/main.ts" },
    outDir: "packages/cli/dist",
    format: "esm",
    sourcemap: true,
    clean: true,
    target: "node20",
    banner: { js: "#!/usr/bin/env node" },
    external: [/^@spot\//, "effect", /^effect\//, /^@effect\//, "onnxruntime-node", "onnxruntime-common", "onnx-proto", "webgpu"],
  }),
]
