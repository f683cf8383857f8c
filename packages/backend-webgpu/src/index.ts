export * from "./backend.ts"
export { BIG_TILE, type MatmulTile, SMALL_TILE, TALL_TILE, WIDE_TILE } from "./kernels/matmul.ts"
export { buildPlan, collapse, DEFAULT_TILES, type Plan, type Tiles } from "./plan.ts"
