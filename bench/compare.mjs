// `spot bench step` and `spot bench matmul` against the PyTorch eager anchor (../shared/anchors), on the
// same cores and thread count, alternating the two round after round so that a shared machine's load
// falls on both alike. Prints every round's ratio and the median, min and max.
//
//   node bench/compare.mjs [--rounds 3] [--threads 2] [--anchor ../shared/anchors/torch_t5_step.py] [--no-step] [--no-matmul]
//
// Needs `npm run build` and the anchor's Python (Debian: apt-get install -y python3-torch libopenblas0-openmp).
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

const args = process.argv.slice(2)
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : dflt
}
const root = fileURLToPath(new URL("..", import.meta.url))
const rounds = Number(opt("rounds", "3"))
const threads = Number(opt("threads", "2"))
const anchor = opt("anchor", `${root}/../shared/anchors/torch_t5_step.py`)
const python = opt("python", "/usr/bin/python3")
const cli = `${root}/packages/cli/dist/main.js`
const shape = ["--batch", "8", "--src", "128", "--prompt", "100", "--tgt", "4"]
if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`)
if (!existsSync(anchor)) throw new Error(`${anchor} is missing (the PyTorch anchor)`)

// OpenBLAS is left to detect its own kernel (the environment may pin OPENBLAS_CORETYPE for other tools)
const pyEnv = { ...process.env, OMP_NUM_THREADS: String(threads) }
delete pyEnv.OPENBLAS_CORETYPE
delete pyEnv.OPENBLAS_L2_SIZE
const lastJson = (out) =>
  JSON.parse(
    out
      .trim()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .at(-1),
  )
const run = (cmd, argv, env = process.env) =>
  lastJson(execFileSync(cmd, argv, { env, encoding: "utf8", maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "ignore"] }))
const load = () => execFileSync("cat", ["/proc/loadavg"], { encoding: "utf8" }).split(" ")[0]

const torchMatmul = (n) =>
  run(
    python,
    [
      "-c",
      `import json,time,torch
torch.set_num_threads(${threads}); a=torch.randn(${n},${n}); b=torch.randn(${n},${n}); a@b
ts=[]
for _ in range(5):
    t0=time.perf_counter(); [a@b for _ in range(4)]; ts.append(time.perf_counter()-t0)
ts.sort(); print(json.dumps({"gflops": 4*2*${n}**3/ts[2]/1e9}))`,
    ],
    pyEnv,
  ).gflops

const rows = []
const record = (what, spotValue, torchValue, unit) => {
  const r = { round: rows.length, what, spot: spotValue, torch: torchValue, ratio: spotValue / torchValue, unit, load: load() }
  rows.push(r)
  console.log(
    `${what.padEnd(12)} spot ${spotValue.toFixed(2).padStart(8)}  torch ${torchValue.toFixed(2).padStart(8)} ${unit.padEnd(10)} ratio ${r.ratio.toFixed(2)}  (load ${r.load})`,
  )
}

console.log(`threads ${threads}, rounds ${rounds}, ${new Date().toISOString()}`)
for (let r = 0; r < rounds; r++) {
  if (!args.includes("--no-step")) {
    const t = run(python, [anchor, "--preset", "t5-v1_1-small", ...shape, "--threads", String(threads), "--iters", "3"], pyEnv)
    const s = run("node", [
      cli,
      "bench",
      "step",
      "--model",
      "random:t5-v1_1-small",
      ...shape,
      "--threads",
      String(threads),
      "--matmul-n",
      "0",
      "--json",
    ])
    record("step", s.examples_per_s, t.examples_per_s, "examples/s")
  }
  if (!args.includes("--no-matmul")) {
    for (const n of [1024, 2048]) {
      const tm = torchMatmul(n)
      const sm = run("node", [cli, "bench", "matmul", "--n", String(n), "--threads", String(threads), "--json"])
      record(`matmul ${n}`, sm.gflops, tm, "GFLOP/s")
    }
  }
}
console.log("\nsummary (spot / torch):")
for (const what of [...new Set(rows.map((r) => r.what))]) {
  const rs = rows
    .filter((r) => r.what === what)
    .map((r) => r.ratio)
    .sort((a, b) => a - b)
  console.log(
    `  ${what.padEnd(12)} median ${rs[Math.floor(rs.length / 2)].toFixed(2)}  min ${rs[0].toFixed(2)}  max ${rs.at(-1).toFixed(2)}  (n=${rs.length})`,
  )
}
