import type { Study } from "@spot/core"

/** The study's outputs as CSV, SVG heatmaps and one self-contained HTML report (no scripts, no fetches). */

export { parseStudyJson } from "./study-json.ts"

/** Every value put into the HTML/SVG goes through `esc` (text and attributes alike). */
export const esc = (s: unknown) => String(s).replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`)
/** A number for display: fixed digits, or n/a when not finite; escaped. */
const fx = (x: number, digits: number) => esc(Number.isFinite(x) ? x.toFixed(digits) : "n/a")
const ex = (x: number, digits: number) => esc(Number.isFinite(x) ? x.toExponential(digits) : "n/a")

/** rows × cols matrix as CSV with a header row of column names. */
export const matrixCsv = (
  rowNames: readonly string[],
  colNames: readonly string[],
  m: readonly (readonly number[])[],
  corner = "target\\source",
) =>
  `${[[corner, ...colNames].map(csvCell).join(","), ...rowNames.map((r, i) => [csvCell(r), ...m[i].map((v) => v.toFixed(6))].join(","))].join("\n")}\n`

/** A CSV cell: quoted when it holds a comma, quote or line break. */
const csvCell = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s)

const color = (v: number, lo: number, hi: number) => {
  if (!Number.isFinite(v)) return "rgb(238,238,238)"
  // diverging blue (low) – white – red (high), centred at 0 when the range spans it
  const mid = lo < 0 && hi > 0 ? 0 : (lo + hi) / 2
  const t = v >= mid ? (hi === mid ? 0 : (v - mid) / (hi - mid)) : lo === mid ? 0 : -(mid - v) / (mid - lo)
  const a = Math.min(1, Math.abs(t))
  const c = (x: number) => Math.round(255 - a * x)
  return t >= 0 ? `rgb(255,${c(170)},${c(170)})` : `rgb(${c(170)},${c(170)},255)`
}

/** A heatmap: one `<rect class="cell">` per (row, column) with data attributes and a tooltip. */
export const heatmapSvg = (
  title: string,
  rowNames: readonly string[],
  colNames: readonly string[],
  m: readonly (readonly number[])[],
) => {
  const cw = 64
  const ch = 28
  const left = 150
  const top = 120
  const vals = m.flat().filter(Number.isFinite)
  const lo = Math.min(...vals, 0)
  const hi = Math.max(...vals, 0)
  const w = left + cw * colNames.length + 10
  const h = top + ch * rowNames.length + 10
  const cells = rowNames.flatMap((r, i) =>
    colNames.map((c, j) => {
      const v = m[i][j]
      const x = left + j * cw
      const y = top + i * ch
      return `<g><rect class="cell" data-target="${esc(r)}" data-source="${esc(c)}" data-value="${esc(v)}" x="${x}" y="${y}" width="${cw - 2}" height="${ch - 2}" fill="${color(v, lo, hi)}"><title>${esc(r)} ← ${esc(c)}: ${fx(v, 3)}</title></rect><text x="${x + cw / 2 - 1}" y="${y + ch / 2 + 4}" text-anchor="middle" font-size="11">${fx(v, 2)}</text></g>`
    }),
  )
  const colLabels = colNames.map(
    (c, j) => `<text transform="translate(${left + j * cw + cw / 2},${top - 6}) rotate(-40)" font-size="11">${esc(c)}</text>`,
  )
  const rowLabels = rowNames.map(
    (r, i) => `<text x="${left - 6}" y="${top + i * ch + ch / 2 + 4}" text-anchor="end" font-size="11">${esc(r)}</text>`,
  )
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(title)}"><text x="4" y="16" font-size="13" font-weight="bold">${esc(title)}</text>${colLabels.join("")}${rowLabels.join("")}${cells.join("")}</svg>`
}

export const summaryCsv = (r: Study.StudyResult) =>
  `${[
    "k,score,oracle_gain_kept,search_space_skipped",
    ...r.summary.map((s) => `${s.k},${s.score.toFixed(6)},${s.oracle_gain_kept.toFixed(6)},${s.search_space_skipped.toFixed(6)}`),
  ].join("\n")}\n`

export const correlationCsv = (r: Study.StudyResult) =>
  `${[
    "target,pearson_r,p_value,n",
    ...r.targets.map(
      (t, i) => `${csvCell(t)},${r.correlation[i].r.toFixed(6)},${r.correlation[i].p.toExponential(4)},${r.correlation[i].n}`,
    ),
  ].join("\n")}\n`

export const htmlReport = (r: Study.StudyResult): string => {
  const pct = (x: number) => `${fx(100 * x, 1)}%`
  const rows = r.summary
    .map(
      (s) =>
        `<tr><td>best of top-${esc(s.k)}</td><td>${fx(100 * s.score, 1)}</td><td>${pct(s.oracle_gain_kept)}</td><td>${pct(s.search_space_skipped)}</td></tr>`,
    )
    .join("")
  const corr = r.targets
    .map(
      (t, i) =>
        `<tr><td>${esc(t)}</td><td>${fx(r.correlation[i].r, 3)}</td><td>${ex(r.correlation[i].p, 2)}</td><td>${esc(r.correlation[i].n)}</td></tr>`,
    )
    .join("")
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SPoT transferability study</title>
<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}td:first-child,th:first-child{text-align:left}.maps{display:flex;flex-wrap:wrap;gap:24px}</style>
</head><body>
<h1>SPoT transferability study</h1>
<p>${esc(r.sources.length)} source tasks × ${esc(r.targets.length)} targets × ${esc(r.seeds.length)} seed(s); ${esc(r.candidates)} retrieval candidates (task, seed); similarity: ${esc(r.similarity_metric)}.</p>
<div class="maps">
<figure id="rer">${heatmapSvg("Relative error reduction (target ← source)", r.targets, r.sources, r.rer)}</figure>
<figure id="similarity">${heatmapSvg("Task-embedding similarity", r.targets, r.sources, r.similarity)}</figure>
</div>
<h2>Retrieval (Table 3 style)</h2>
<table><thead><tr><th>method</th><th>score</th><th>oracle gain kept</th><th>search space skipped</th></tr></thead><tbody>
<tr><td>baseline (prompt tuning)</td><td>${fx(100 * r.baseline, 1)}</td><td></td><td></td></tr>
${rows}
<tr><td>oracle</td><td>${fx(100 * r.oracle, 1)}</td><td>100%</td><td>0%</td></tr>
</tbody></table>
<h2>Similarity vs. transfer gain (per target)</h2>
<table><thead><tr><th>target</th><th>Pearson r</th><th>p-value</th><th>n</th></tr></thead><tbody>${corr}</tbody></table>
</body></html>
`
}
