import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const src = (p: string) => fileURLToPath(new URL(`./packages/${p}/src/index.ts`, import.meta.url))

export default defineConfig({
  resolve: {
    alias: {
      "@spot/core/testing": fileURLToPath(new URL("./packages/core/src/testing.ts", import.meta.url)),
      "@spot/core/graph": fileURLToPath(new URL("./packages/core/src/graph/index.ts", import.meta.url)),
      "@spot/core": src("core"),
      "@spot/experiments": src("experiments"),
      "@spot/cluster": src("cluster"),
      "@spot/backend-cuda": src("backend-cuda"),
      "@spot/backend-webgpu": src("backend-webgpu"),
    },
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
  },
})
