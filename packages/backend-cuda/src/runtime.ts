/**
 * The runtime the backend runs on: any implementation of onnxruntime-common's API — `onnxruntime-node`
 * (the default in Node, loaded lazily), `onnxruntime-web` (browsers, Deno; WASM or WebGPU), or another.
 * A runtime that cannot be loaded is a typed `BackendUnavailable` that names the install command.
 */
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { BackendUnavailable, IR } from "@spot/core/graph"
import { Effect, Result } from "effect"
import type * as Common from "onnxruntime-common"
import { compileToOnnx } from "./compile.ts"

/** What the backend uses of onnxruntime-common's API: sessions and tensors. */
export interface OrtRuntime {
  readonly InferenceSession: {
    readonly create: (model: Uint8Array, options?: Common.InferenceSession.SessionOptions) => Promise<Common.InferenceSession>
  }
  readonly Tensor: typeof Common.Tensor
}

/** A runtime, or a lazy loader of one (e.g. `() => import("onnxruntime-web")`). */
export type RuntimeSource = OrtRuntime | (() => Promise<OrtRuntime>)

export type Provider = "cpu" | "cuda" | "webgpu" | "wasm"

export interface ProviderReport {
  readonly chosen: Provider
  readonly skipped: ReadonlyArray<{ readonly provider: Provider; readonly reason: string }>
}

export const NODE_INSTALL = "npm install onnxruntime-node"
/** onnxruntime-node's own install step for the CUDA provider (it reaches api.nuget.org). */
export const CUDA_INSTALL = "`ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js`"

/** `; install it with `npm install X`` when a loader failed on a missing package X. */
const installHint = (e: unknown) => {
  const pkg = /Cannot find (?:package|module) '((?:@[^/']+\/)?[^/']+)/.exec(String(e))?.[1]
  return pkg ? `; install it with \`npm install ${pkg}\`` : ""
}

/** Loads a runtime; the default is onnxruntime-node, imported only when a backend is built. */
export const loadRuntime = (source: RuntimeSource | undefined): Effect.Effect<OrtRuntime, BackendUnavailable> =>
  Effect.tryPromise({
    try: async () =>
      source === undefined
        ? ((await import("onnxruntime-node")) as unknown as OrtRuntime)
        : typeof source === "function"
          ? await source()
          : source,
    catch: (e) =>
      new BackendUnavailable({
        backend: "onnx",
        message:
          source === undefined
            ? `onnxruntime-node cannot be loaded (${String(e)}); install it with \`${NODE_INSTALL}\`, or pass another runtime (e.g. onnxruntime-web) as \`runtime\``
            : `the ONNX Runtime given as \`runtime\` cannot be loaded (${String(e)})${installHint(e)}`,
      }),
  })

/** Where onnxruntime-node keeps its native libraries (the CUDA provider lands there when installed). */
export const nodeNativeDir = (): string | undefined => {
  try {
    const req = createRequire(import.meta.url)
    const root = dirname(req.resolve("onnxruntime-node/package.json"))
    return join(root, "bin", "napi-v6", process.platform, process.arch)
  } catch {
    return undefined
  }
}

/** Why the CUDA provider cannot be tried with onnxruntime-node, or undefined when its library is there. */
export const cudaMissing = (): string | undefined => {
  const dir = nodeNativeDir()
  if (dir && existsSync(join(dir, "libonnxruntime_providers_cuda.so"))) return undefined
  return `the CUDA provider is not installed (${CUDA_INSTALL} downloads it from NuGet; see \`spot doctor\`)`
}

/** A one-node model, to test that a provider can create a session. */
export const probeModel = (): Uint8Array => {
  const x = IR.input("x", [1])
  const y = IR.neg(x)
  return Result.getOrThrow(compileToOnnx({ outputs: { y } }, [x, y], new Set())).bytes
}

const message = (e: unknown) => String(e instanceof Error ? e.message : e)

/** Tries to create a one-node session on `provider`; the failure is the runtime's reason. */
export const probeProvider = (ort: OrtRuntime, provider: Provider) =>
  Effect.tryPromise({
    try: () =>
      ort.InferenceSession.create(probeModel(), { executionProviders: [provider], logSeverityLevel: 4 }).then((s) => s.release()),
    catch: message,
  })

/**
 * Picks the first provider that creates a session. `auto` is cuda then cpu on the default runtime
 * (onnxruntime-node), cpu then wasm on an injected one.
 */
export const pickProvider = (ort: OrtRuntime, want: Provider | "auto", injected: boolean) =>
  Effect.gen(function* () {
    const skipped: { provider: Provider; reason: string }[] = []
    const candidates: Provider[] = want !== "auto" ? [want] : injected ? ["cpu", "wasm"] : ["cuda", "cpu"]
    for (const p of candidates) {
      const missing = p === "cuda" && !injected ? cudaMissing() : undefined
      if (missing) {
        skipped.push({ provider: p, reason: missing })
        continue
      }
      const r = yield* Effect.result(probeProvider(ort, p))
      if (Result.isSuccess(r)) return { chosen: p, skipped } satisfies ProviderReport
      skipped.push({ provider: p, reason: r.failure })
    }
    return yield* new BackendUnavailable({
      backend: `onnx:${want}`,
      message: `no execution provider works: ${skipped.map((s) => `${s.provider}: ${s.reason}`).join("; ")}`,
    })
  })
