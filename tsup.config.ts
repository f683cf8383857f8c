import { defineConfig } from "tsup"

// One build for the whole monorepo: each library package gets ESM + .d.ts, the CLI one executable bundle.
const lib = (name: string, entry: Record<string, string> = { index: `packages/${name}/src/index.ts` }) =>
  defineConfig({
    entry,
    outDir: `packages/${name}/dist`,
    format: "esm",
    dts: true,
    sourcemap: true,
    clean: true,
    target: "es2022",
    external: [/^@spot\//, "effect", /^effect\//, "onnxruntime-node", "onnxruntime-common", "onnx-proto", "webgpu", /^@effect\//],
  })

export default [
  lib("core", { index: "packages/core/src/index.ts", graph: "packages/core/src/graph/index.ts" }),
  lib("experiments"),
  lib("cluster"),
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
