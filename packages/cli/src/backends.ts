/** Backend selection for the CLI: flags → a Layer providing the core `Backend` service. */
import { OnnxBackend, type OnnxBackendShape, type OnnxOptions } from "@spot/backend-cuda"
import { DEFAULT_TILES, type Tiles, WebGpuBackend, type WebGpuBackendShape } from "@spot/backend-webgpu"
import { Backend, type BackendUnavailable, ReferenceBackend } from "@spot/core"
import { Effect, type Layer } from "effect"
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

/** `--tile BMxBNxBK:TMxTN[:single|:double]` for the WebGPU matmul's big tiling (benchmarks only). */
export const parseTile = (spec: string): Tiles | undefined => {
  const m = /^(\d+)x(\d+)x(\d+):(\d+)x(\d+)(?::(single|double))?$/.exec(spec)
  if (!m) return undefined
  const [bm, bn, bk, tm, tn] = m.slice(1, 6).map(Number)
  const double = m[6] === undefined ? DEFAULT_TILES.big.double === true : m[6] === "double"
  return { ...DEFAULT_TILES, big: { bm, bn, bk, tm, tn, double } }
}

export const backendLayer = (
  c: BackendChoice,
  webgpu: { tiles?: Tiles | undefined; profile?: boolean } = {},
  onnx: Omit<OnnxOptions, "provider" | "threads" | "runtime"> = {},
): Layer.Layer<Backend, BackendUnavailable> => {
  switch (c.backend) {
    case "reference":
      return ReferenceBackend.layer
    case "onnx":
      return OnnxBackend.layer({ ...onnx, provider: c.provider, ...(c.threads > 0 ? { threads: c.threads } : {}) })
    case "webgpu":
      return WebGpuBackend.layer({
        ...(webgpu.tiles ? { tiles: webgpu.tiles } : {}),
        ...(webgpu.profile ? { profile: true } : {}),
      })
  }
}

/** The backend's name and, for ONNX Runtime, which provider it chose and why others were skipped. */
export const describeBackend = Effect.map(Effect.service(Backend), (b) => ({
  backend: b.name,
  ...("providerReport" in b ? { provider: (b as OnnxBackendShape).providerReport } : {}),
  ...("adapter" in b ? { adapter: (b as WebGpuBackendShape).adapter } : {}),
}))
