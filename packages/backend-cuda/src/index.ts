export * from "./backend.ts"
export { compileToOnnx, OPSET } from "./compile.ts"
