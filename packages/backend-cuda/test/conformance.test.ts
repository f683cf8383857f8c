import { OnnxBackend } from "@spot/backend-cuda"
import { conformanceSuite } from "../../core/test/conformance.ts"

conformanceSuite("onnx:cpu", OnnxBackend.layer({ provider: "cpu", threads: 1 }))
