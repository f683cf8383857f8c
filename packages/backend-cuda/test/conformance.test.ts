import { OnnxBackend } from "@spot/backend-cuda"
import { conformanceSuite } from "@spot/core/testing"

conformanceSuite("onnx:cpu", OnnxBackend.layer({ provider: "cpu", threads: 1 }))
