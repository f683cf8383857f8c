// Writes package.json + package-lock.json of a fresh consumer project that depends on the given
// tarballs (file: specs) and registry packages, every registry package pinned to the version (and
// integrity) the repository's lockfile has, so that `npm ci --offline` installs it from the npm cache
// alone. (npm 11 resolves a fresh `npm install` through full packuments, which `npm ci` does not
// cache: without a lockfile an offline install of the tarballs cannot resolve their dependencies.)
// Which packages a tarball pulls in follows npm: dependencies and non-optional peers, recursively.
//   node .ci/consumer-lock.mjs <repo> <project-dir> <name> <tarball.tgz>… -- <registry-package>…

import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { readFileSync, writeFileSync } from "node:fs"
import { basename, join, relative } from "node:path"

const [repo, dir, name, ...rest] = process.argv.slice(2)
const cut = rest.indexOf("--")
const tarballs = cut < 0 ? rest : rest.slice(0, cut)
const extras = cut < 0 ? [] : rest.slice(cut + 1)
const repoLock = JSON.parse(readFileSync(join(repo, "package-lock.json"), "utf8")).packages

const manifestOf = (tgz) => JSON.parse(execFileSync("tar", ["-xzOf", tgz, "package/package.json"], { encoding: "utf8" }))
const fail = (message) => {
  console.error(`consumer-lock: ${message}`)
  process.exit(1)
}

const packages = {}
const rootDeps = {}
// the registry packages a package needs: dependencies and peers npm installs (not the optional ones)
const needs = (p) => ({
  ...(p.dependencies ?? {}),
  ...Object.fromEntries(Object.entries(p.peerDependencies ?? {}).filter(([n]) => !p.peerDependenciesMeta?.[n]?.optional)),
})
const ownNames = new Set()
const pending = []

for (const tgz of tarballs) {
  const m = manifestOf(tgz)
  ownNames.add(m.name)
  const spec = `file:${relative(dir, tgz)}`
  rootDeps[m.name] = spec
  const entry = {
    version: m.version,
    resolved: spec,
    integrity: `sha512-${createHash("sha512").update(readFileSync(tgz)).digest("base64")}`,
    license: m.license,
  }
  for (const k of ["dependencies", "peerDependencies", "peerDependenciesMeta", "engines"]) if (m[k]) entry[k] = m[k]
  if (m.bin) entry.bin = m.bin
  packages[`node_modules/${m.name}`] = entry
  for (const dep of Object.keys(needs(m))) pending.push({ from: `node_modules/${m.name}`, dep })
}
for (const extra of extras) {
  const e = repoLock[`node_modules/${extra}`]
  if (!e) fail(`${extra} is not in the repository's lockfile`)
  rootDeps[extra] = e.version
  pending.push({ from: "", dep: extra })
}

// Node's resolution over lockfile paths: the nearest node_modules/<dep> above `from`
const locate = (from, dep) => {
  const parts = from ? from.split("/node_modules/") : []
  for (let i = parts.length; i >= 0; i--) {
    const base = parts.slice(0, i).join("/node_modules/")
    const key = base ? `${base}/node_modules/${dep}` : `node_modules/${dep}`
    if (repoLock[key] && !repoLock[key].link) return key
  }
  return undefined
}
while (pending.length > 0) {
  const { from, dep } = pending.pop()
  if (ownNames.has(dep)) continue
  const key = locate(from.startsWith("node_modules/@spot/") ? "" : from, dep)
  if (!key) fail(`${dep} (needed by ${from || "the project"}) is not in the repository's lockfile`)
  if (packages[key]) continue
  const { dev, devOptional, peer, ...entry } = repoLock[key]
  packages[key] = entry
  for (const d of Object.keys(needs(entry))) pending.push({ from: key, dep: d })
  for (const d of Object.keys(entry.optionalDependencies ?? {})) if (locate(key, d)) pending.push({ from: key, dep: d })
}

const manifest = { name, private: true, type: "module", dependencies: rootDeps }
writeFileSync(join(dir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`)
const lock = { name, lockfileVersion: 3, requires: true, packages: { "": { name, dependencies: rootDeps }, ...packages } }
writeFileSync(join(dir, "package-lock.json"), `${JSON.stringify(lock, null, 2)}\n`)
console.log(
  `${name}: ${Object.keys(packages).length} packages (${tarballs.map((t) => basename(t)).join(", ")}; ${extras.join(", ")})`,
)
