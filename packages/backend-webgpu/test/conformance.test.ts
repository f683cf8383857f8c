import { requestDevice, WebGpuBackend } from "@spot/backend-webgpu"
import { conformanceSuite } from "@spot/core/testing"
import { Effect } from "effect"
import { useSoftwareAdapter } from "./adapter.ts"

useSoftwareAdapter()
// one device for the whole file: pipelines and weights are cached per device
const device = await Effect.runPromise(requestDevice())
conformanceSuite("webgpu", WebGpuBackend.layer({ device }))
