/**
 * `@spot/cluster`: the prompt library in PostgreSQL, and the study grid and transfer runs on Effect
 * Cluster + Workflow.
 */

export * as Grid from "./grid.ts"
export * as PgLibrary from "./pg-library.ts"
export { PostgresLibrary } from "./pg-library.ts"
export * as ClusterStudy from "./study.ts"
export * as ClusterTransfer from "./transfer.ts"
export * as ClusterWork from "./work.ts"
