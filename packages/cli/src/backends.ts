/** Backend selection for the CLI: flags → a Layer providing the core `Backend` service. */
import { OnnxBackend, type OnnxBackendShape } from "@spot/backend-cuda"
import { Backend, BackendUnavailable, ReferenceBackend } from "@spot/core"
import { Effect, Layer } from "effect"
import { Flag } from "effect/cli"

export const BACKENDS = ["onnx", "reference", "webgpu"] as const
export type BackendName = (typeof BACKENDS)[number]
export const PROVIDERS = ["auto", "cpu", "cuda", "webgpu"] as const

/** `--backend`, `--provider`, `--threads`, shared by every command that runs a model. */
export const backendFlags = {
  backend: Flag.Literals("backend", BACKENDS).pipe(
    Flag.withDefault("onnx" as const),
    Flag.withDescription("onnx (ONNX Runtime; default), reference (the slow oracle), webgpu (WGSL kernels)"),
  ),
  provider: Flag.Literals("provider", PROVIDERS).pipe(
    Flag.withDefault("auto" as const),
    Flag.withDescription("ONNX Runtime execution provider: auto = cuda when installed, else cpu"),
  ),
  threads: Flag.Int("threads").pipe(
    Flag.withDefault(0),
    Flag.withDescription("intra-op threads for ONNX Runtime (0 = one per core)"),
  ),
}

export interface BackendChoice {
  readonly backend: BackendName
  readonly provider: (typeof PROVIDERS)[number]
  readonly threads: number
}

export const backendLayer = (c: BackendChoice): Layer.Layer<Backend, BackendUnavailable> => {
  switch (c.backend) {
    case "reference":
      return ReferenceBackend.layer
    case "onnx":
      return OnnxBackend.layer({ provider: c.provider, ...(c.threads > 0 ? { threads: c.threads } : {}) })
    case "webgpu":
      return Layer.effect(
        Backend,
        Effect.fail(new BackendUnavailable({ backend: "webgpu", message: "the WGSL backend is not built yet (issue 7)" })),
      )
  }
}

/** The backend's name and, for ONNX Runtime, which provider it chose and why others were skipped. */
export const describeBackend = Effect.map(Effect.service(Backend), (b) => ({
  backend: b.name,
  ...("providerReport" in b ? { provider: (b as OnnxBackendShape).providerReport } : {}),
}))
