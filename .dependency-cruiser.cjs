/**
 * The layering of the monorepo, checked by `npm run lint:deps` (dependency-cruiser) in CI:
 *
 *   graph layer (core/src/graph)  ←  core domains (t5, data → train → spot, library)  ←  experiments  ←  cli
 *   backends (backend-*) stand on the graph layer only, through `@spot/core/graph`.
 *
 * Type-only imports count (a type cycle is still a cycle a reader has to untangle).
 */
const core = "^packages/core/src/"

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "No module may reach itself through its imports (src of every package).",
      from: { path: "^packages/[^/]+/src/" },
      to: { circular: true },
    },
    {
      name: "graph-layer-self-contained",
      severity: "error",
      comment: "core/src/graph is the bottom layer: it imports nothing else from the core.",
      from: { path: `${core}graph/` },
      to: { path: core, pathNot: `${core}graph/` },
    },
    {
      name: "backends-on-graph-entry-only",
      severity: "error",
      comment:
        "Backends import the core only through its graph entry point (@spot/core/graph), never the @spot/core barrel or core internals.",
      from: { path: "^packages/backend-[^/]+/src/" },
      to: { path: "^packages/core/", pathNot: `${core}graph/index\\.ts$` },
    },
    {
      name: "backends-not-on-apps",
      severity: "error",
      comment: "Backends do not import experiments, the CLI or each other.",
      from: { path: "^packages/(backend-[^/]+)/src/" },
      to: { path: "^packages/(experiments|cli|backend-[^/]+)/", pathNot: "^packages/$1/" },
    },
    {
      name: "core-not-on-apps",
      severity: "error",
      comment: "The core never imports experiments, the CLI or a backend.",
      from: { path: core },
      to: { path: "^packages/(experiments|cli|backend-[^/]+)/" },
    },
    {
      name: "core-not-on-own-barrel",
      severity: "error",
      comment: "Core modules import each other directly, never the package barrel (core/src/index.ts).",
      from: { path: core, pathNot: `${core}index\\.ts$` },
      to: { path: `${core}index\\.ts$` },
    },
    {
      name: "experiments-not-on-cli",
      severity: "error",
      comment: "Experiments are a library the CLI uses; they never import the CLI.",
      from: { path: "^packages/experiments/src/" },
      to: { path: "^packages/cli/" },
    },
    {
      name: "data-below-training",
      severity: "error",
      comment: "The data layer (datasets, tokenizers, batching) does not import training, SPoT or the library.",
      from: { path: `${core}data/` },
      to: { path: `${core}(train|spot|library)/` },
    },
    {
      name: "t5-below-data-and-training",
      severity: "error",
      comment: "The T5 model (config, checkpoint, graph, runner, decoding) does not import data, training, SPoT or the library.",
      from: { path: `${core}t5/` },
      to: { path: `${core}(data|train|spot|library)/` },
    },
    {
      name: "training-below-spot-and-library",
      severity: "error",
      comment: "Training (problems, the loop, optimizers, evaluation) does not import SPoT or the library.",
      from: { path: `${core}train/` },
      to: { path: `${core}(spot|library)/` },
    },
  ],
  options: {
    includeOnly: "^packages/[^/]+/src/",
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
    doNotFollow: { path: "node_modules" },
  },
}
