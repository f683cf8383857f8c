/**
 * The graph layer (`@spot/core/graph`): host tensors, the IR, autodiff, the reference interpreter, the
 * backend contract, safetensors and counter-based randomness. Backends import this entry point only;
 * it knows nothing of T5, training, the prompt library or tokenizers.
 */
export * as Autodiff from "./autodiff.ts"
export * from "./backend.ts"
export * from "./errors.ts"
export * as Hash from "./hash.ts"
export * as Interpreter from "./interpreter.ts"
export * as IR from "./ir.ts"
export * as Random from "./random.ts"
export * as Safetensors from "./safetensors.ts"
export type { DType, HostTensor, Shape } from "./tensor.ts"
export * as Tensor from "./tensor.ts"
