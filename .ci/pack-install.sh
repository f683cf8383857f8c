#!/usr/bin/env bash
# CI (issue #14): the packages as a user gets them. Packs every workspace package, installs the
# tarballs into fresh projects in /tmp with no network step (npm --offline, from the cache `npm ci`
# filled; no .npmrc), type-checks the README's ```ts blocks extracted verbatim (skipLibCheck false),
# runs them on Node, Deno and Bun, runs `spot demo --quick` from the installed CLI, checks that one
# copy of effect is installed and that a missing optional runtime fails with a typed
# BackendUnavailable naming its install command. Prints packed/unpacked/installed sizes.
# Needs `npm run build` first (.ci/run does it).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$ROOT/node_modules/.bin"
WORK="$(mktemp -d /tmp/spot-pack-XXXXXX)"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT
# what a user sets so that onnxruntime-node's install step does not download the CUDA provider
# (npm 11 blocks dependency install scripts unless approved; older npm runs them)
export ONNXRUNTIME_NODE_INSTALL=skip
# the repository's .npmrc must not help: run npm from directories outside the checkout
export npm_config_userconfig=/dev/null
t0=$SECONDS
stamp() { echo "== [$((SECONDS - t0)) s] $*"; }

stamp "pack every workspace package"
mkdir -p "$WORK/tarballs"
(cd "$ROOT" && npm pack --workspaces --pack-destination "$WORK/tarballs" --json >"$WORK/pack.json" 2>/dev/null)
node -e '
const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"))
const kb = (n) => `${(n / 1024).toFixed(0)} kB`
console.log("package".padEnd(24), "packed".padStart(10), "unpacked".padStart(10), "files".padStart(6))
for (const p of r) console.log(p.name.padEnd(24), kb(p.size).padStart(10), kb(p.unpackedSize).padStart(10), String(p.entryCount).padStart(6))
for (const p of r) {
  if (!p.files.some((f) => f.path === "LICENSE")) { console.error(`${p.name}: no LICENSE in the tarball`); process.exit(1) }
  if (p.size > 10 * 1024 * 1024) { console.error(`${p.name}: packed size over 10 MB`); process.exit(1) }
}
' "$WORK/pack.json"
TARBALLS=("$WORK"/tarballs/*.tgz)

# A fresh project: package.json + a lockfile pinning what the repository's lockfile pins, then
# `npm ci --offline` (from the npm cache only; see consumer-lock.mjs for why a lockfile is needed).
project() { # dir, name, tarballs… -- registry packages…
  mkdir -p "$1"
  node "$ROOT/.ci/consumer-lock.mjs" "$ROOT" "$@"
  (cd "$1" && npm ci --offline --no-audit --no-fund --loglevel=error)
}

stamp "library-only project: core and both backends, no native runtime"
LIB="$WORK/lib"
project "$LIB" lib-app "$WORK"/tarballs/spot-core-*.tgz "$WORK"/tarballs/spot-backend-*.tgz -- effect
cat >"$LIB/unavailable.mjs" <<'EOF'
// optional peers not installed → a typed BackendUnavailable that names the install command
import { OnnxBackend } from "@spot/backend-cuda"
import { WebGpuBackend } from "@spot/backend-webgpu"
import { Backend } from "@spot/core"
import { Effect } from "effect"
const attempt = (layer, command) =>
  Effect.runPromise(Effect.flip(Effect.service(Backend).pipe(Effect.provide(layer)))).then((e) => {
    if (e._tag !== "BackendUnavailable" || !e.message.includes(command)) throw new Error(`expected BackendUnavailable naming "${command}", got ${e._tag}: ${e.message}`)
    console.log(`${e.backend}: ${e._tag}: ${e.message.slice(0, 160)}…`)
  })
await attempt(OnnxBackend.layer({ provider: "cpu" }), "npm install onnxruntime-node")
if (!globalThis.navigator?.gpu) await attempt(WebGpuBackend.layer(), "npm install webgpu")
EOF
node "$LIB/unavailable.mjs"
# the browser bundle of an app that imports Tensor alone (minified, esbuild): small, no demo data
echo 'import { Tensor } from "@spot/core"; console.log(Tensor.f32([2, 3]))' >"$LIB/tensor-only.js"
(cd "$LIB" && "$BIN/esbuild" tensor-only.js --bundle --minify --format=esm --platform=browser --outfile=tensor-only.min.js --log-level=warning)
bytes="$(wc -c <"$LIB/tensor-only.min.js")"
echo "bundle of import { Tensor } from \"@spot/core\": $bytes bytes minified, $(gzip -c "$LIB/tensor-only.min.js" | wc -c) gzipped"
[ "$bytes" -lt 8192 ] || { echo "FAILED: the Tensor-only bundle is $bytes bytes (over 8 kB)"; exit 1; }
! grep -q "movie-sentiment" "$LIB/tensor-only.min.js" || { echo "FAILED: demo task names in the Tensor-only bundle"; exit 1; }
echo "installed (library only): $(du -sh "$LIB/node_modules" | cut -f1)"

stamp "application project: every tarball"
APP="$WORK/app"
project "$APP" app "${TARBALLS[@]}" -- effect @effect/platform-node @types/node
echo "installed (every package, onnxruntime-node, no webgpu): $(du -sh "$APP/node_modules" | cut -f1)"

stamp "one copy of effect; every dependency and peer satisfied"
(cd "$APP" && npm ls --all >/dev/null && npm ls effect --all)
copies="$(cd "$APP" && npm ls effect --all --parseable | sort -u | wc -l)"
[ "$copies" -eq 1 ] || { echo "FAILED: $copies copies of effect"; exit 1; }

stamp "README ts blocks, verbatim"
node -e '
const fs = require("node:fs")
const md = fs.readFileSync(process.argv[1], "utf8")
const blocks = [...md.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1])
if (blocks.length === 0) { console.error("no ```ts blocks in README.md"); process.exit(1) }
blocks.forEach((b, i) => fs.writeFileSync(`${process.argv[2]}/readme-${i + 1}.ts`, b))
console.log(`${blocks.length} blocks`)
' "$ROOT/README.md" "$APP"
cat >"$APP/tsconfig.json" <<'EOF'
{
  "compilerOptions": {
    "target": "ES2022",
    "module": "nodenext",
    "moduleResolution": "nodenext",
    "strict": true,
    "skipLibCheck": false,
    "types": ["node"],
    "outDir": "out"
  },
  "include": ["readme-*.ts"]
}
EOF
(cd "$APP" && "$BIN/tsc" -p tsconfig.json)
for f in "$APP"/readme-*.ts; do
  b="$(basename "$f" .ts)"
  echo "-- $b: node";  (cd "$APP" && node "out/$b.js")
  echo "-- $b: deno";  (cd "$APP" && "$BIN/deno" run -A "$b.ts")
  echo "-- $b: bun";   (cd "$APP" && "$BIN/bun" "$b.ts")
done

stamp "spot demo --quick from the installed CLI"
(cd "$APP" && npx --offline spot demo --quick --out "$WORK/demo")
[ -f "$WORK/demo/report.json" ] || { echo "FAILED: no report.json"; exit 1; }

echo "pack-install: ok in $((SECONDS - t0)) s"
