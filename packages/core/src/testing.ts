/**
 * `@spot/core/testing`: the suites this project runs on its own strategies and backends, for third
 * parties to run on theirs — the retrieval-strategy laws (`strategyLaws` with the `library`/`query`
 * generators) and the backend conformance suite (`conformanceSuite`: every op, forward and VJP,
 * against the reference interpreter, plus the T5 parity fixtures). They register vitest tests and
 * draw fast-check values, so `vitest` and `fast-check` are (optional) peer dependencies of
 * `@spot/core`, needed only by code that imports this entry. The sources stay in `core/test/`.
 */
export { awayFromZero, CASES, type Case, seed } from "../test/cases.ts"
export { conformanceSuite } from "../test/conformance.ts"
export { library, model, query, RUNS_LAWS, strategyLaws } from "../test/laws.ts"
export { finiteDiff, maxRelErr, randomTensor, rng } from "../test/util.ts"
