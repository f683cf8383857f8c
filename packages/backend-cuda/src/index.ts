export * from "./backend.ts"
export { type BoundWeight, compileToOnnx, OPSET, type WeightMode } from "./compile.ts"
export { CUDA_INSTALL, cudaMissing, loadRuntime, NODE_INSTALL, nodeNativeDir, pickProvider, probeProvider } from "./runtime.ts"
