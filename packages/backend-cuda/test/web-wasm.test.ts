/**
 * The shared conformance suite on onnxruntime-web's WASM backend, in Node: the backend is written
 * against onnxruntime-common's API, so any implementation of it plugs in as `runtime`.
 */
import { OnnxBackend } from "@spot/backend-cuda"
import * as ortWeb from "onnxruntime-web"
import { conformanceSuite } from "../../core/test/conformance.ts"

ortWeb.env.wasm.numThreads = 1

conformanceSuite("onnx-web:wasm", OnnxBackend.layer({ runtime: ortWeb, provider: "wasm" }), { runs: 8 })
