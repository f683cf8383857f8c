// TypeScript < 6: lib.dom has no WebGPU declarations (GPUDevice, GPUBuffer, navigator.gpu), so they
// come from @webgpu/types. TypeScript 6's lib.dom declares them and the two sets conflict, so
// dist/index.d.ts itself carries no reference; the "types@<6" export condition selects this file.
/// <reference types="@webgpu/types" />
export * from "../dist/index.js"
