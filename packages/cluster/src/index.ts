/**
 * `@spot/cluster`: the prompt library in PostgreSQL and the study grid on Effect Cluster + Workflow.
 */

export * as Grid from "./grid.ts"
export * as PgLibrary from "./pg-library.ts"
export { PostgresLibrary } from "./pg-library.ts"
export * as ClusterStudy from "./study.ts"
