/**
 * `spot doctor`: which execution providers load on this machine, why the others do not, and what to
 * install. ONNX Runtime (onnxruntime-node): cpu, cuda, webgpu; the WGSL backend: WebGPU via dawn.node.
 */
import { execFileSync } from "node:child_process"
import { join } from "node:path"
import {
  CUDA_INSTALL,
  cudaMissing,
  loadRuntime,
  NODE_INSTALL,
  nodeNativeDir,
  type OrtRuntime,
  type Provider,
  probeProvider,
} from "@spot/backend-cuda"
import { WebGpuBackend } from "@spot/backend-webgpu"
import { Backend } from "@spot/core"
import { Console, Effect, Result } from "effect"
import { Command, Flag } from "effect/cli"
import { describeError, printJson } from "../output.ts"

export interface ProviderCheck {
  /** `onnx:cpu`, `onnx:cuda`, `onnx:webgpu`, `webgpu` (dawn.node). */
  readonly provider: string
  readonly ok: boolean
  /** What loaded (adapter, library), or why it did not. */
  readonly detail: string
  /** What to install or set to make it load (absent when it loads). */
  readonly install?: string
}

/** The runtime's reason, without its source-location prefix (`/onnxruntime_src/…cc:136 … was false.`). */
const firstLine = (s: string) => {
  const line = s.split("\n")[0]
  const i = line.lastIndexOf(" was false. ")
  return (i >= 0 ? line.slice(i + " was false. ".length) : line).slice(0, 400)
}

const ONNX_HINTS: Record<"cpu" | "cuda" | "webgpu", string> = {
  cpu: NODE_INSTALL,
  cuda: `${CUDA_INSTALL}; it needs an NVIDIA driver, the CUDA 12 runtime and cuDNN 9 on the library path`,
  webgpu: "onnxruntime-node's WebGPU provider needs a GPU adapter (Vulkan on Linux) — or use `--backend webgpu`",
}

/** The shared libraries a provider library needs that the dynamic loader cannot find (via `ldd`). */
const missingLibraries = (file: string): string[] => {
  const dir = nodeNativeDir()
  if (!dir) return []
  try {
    const out = execFileSync("ldd", [join(dir, file)], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
    return out.split("\n").flatMap((l) => (/=> not found/.test(l) ? [l.trim().split(" ")[0]] : []))
  } catch {
    return []
  }
}

const checkOrt = (ort: OrtRuntime, p: "cpu" | "cuda" | "webgpu") =>
  Effect.gen(function* () {
    const provider = `onnx:${p}`
    const missing = p === "cuda" ? cudaMissing() : undefined
    if (missing) return { provider, ok: false, detail: missing, install: ONNX_HINTS.cuda } satisfies ProviderCheck
    const r = yield* Effect.result(probeProvider(ort, p as Provider))
    if (Result.isSuccess(r)) return { provider, ok: true, detail: "creates a session" } satisfies ProviderCheck
    const unresolved = p === "cuda" ? missingLibraries("libonnxruntime_providers_cuda.so") : []
    const detail = unresolved.length > 0 ? `${firstLine(r.failure)}; not found: ${unresolved.join(", ")}` : firstLine(r.failure)
    return { provider, ok: false, detail, install: ONNX_HINTS[p] } satisfies ProviderCheck
  })

const checkDawn = Effect.gen(function* () {
  const r = yield* Effect.result(Effect.service(Backend).pipe(Effect.provide(WebGpuBackend.layer()), Effect.scoped))
  if (Result.isSuccess(r)) {
    const adapter = "adapter" in r.success ? (r.success as { adapter: unknown }).adapter : undefined
    return { provider: "webgpu", ok: true, detail: `dawn.node adapter ${JSON.stringify(adapter)}` } satisfies ProviderCheck
  }
  return {
    provider: "webgpu",
    ok: false,
    detail: firstLine(describeError(r.failure)),
    install:
      "`npm install webgpu` (dawn.node); a GPU driver, or on Linux without a GPU libvulkan1 + a software Vulkan driver (VK_ICD_FILENAMES)",
  } satisfies ProviderCheck
})

/** Every provider check, in order: ONNX Runtime's cpu, cuda, webgpu, then dawn.node's WebGPU. */
export const doctorChecks = Effect.gen(function* () {
  const checks: ProviderCheck[] = []
  const ort = yield* Effect.result(loadRuntime(undefined))
  if (Result.isFailure(ort)) {
    for (const p of ["cpu", "cuda", "webgpu"] as const) {
      checks.push({ provider: `onnx:${p}`, ok: false, detail: ort.failure.message, install: NODE_INSTALL })
    }
  } else {
    for (const p of ["cpu", "cuda", "webgpu"] as const) checks.push(yield* checkOrt(ort.success, p))
  }
  checks.push(yield* checkDawn)
  return checks
})

export const doctor = Command.make("doctor", { json: Flag.Boolean("json").pipe(Flag.withDefault(false)) }, ({ json }) =>
  Effect.gen(function* () {
    const checks = yield* doctorChecks
    if (json) return yield* printJson({ node: process.version, platform: `${process.platform}/${process.arch}`, checks })
    yield* Console.log(`spot doctor — Node ${process.version}, ${process.platform}/${process.arch}`)
    for (const c of checks) {
      yield* Console.log(`  ${c.ok ? "ok  " : "no  "} ${c.provider.padEnd(12)} ${c.detail}`)
      if (c.install) yield* Console.log(`       ${"".padEnd(12)} install: ${c.install}`)
    }
  }),
).pipe(Command.withDescription("Which execution providers load here, why the others do not, and what to install."))
