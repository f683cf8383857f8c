/**
 * Experiments built on the pure core: the generated task suite, the micro T5 (recipe and
 * pretraining), the demo, and the study report renderer. Applications, not library algebra.
 */
export * as Demo from "./demo.ts"
export * as Micro from "./micro.ts"
export * as Pretrain from "./pretrain.ts"
export * as StudyReport from "./report.ts"
export * as Synthetic from "./tasks.ts"
