/**
 * SVG bar charts of the comparison, written beside docs/benchmarks.md (docs/bench/*.svg) with no
 * dependency: one horizontal bar per system at its median, a whisker over its range, the value
 * printed at the end. Relay's bars are drawn in colour, the anchors' in grey; a generator-bound
 * figure is hatched and says so, since its bar shows the generator's limit, not the server's.
 */
import { fmt, type Metric, type Section } from "./summary.ts";

const WIDTH = 760;
const LABEL_W = 130;
const VALUE_W = 210;
const ROW_H = 28;
const TOP = 54;
const BAR_W = WIDTH - LABEL_W - VALUE_W - 20;

const escape = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** A chart of one metric of a section, or null when no system has a figure for it. */
export function barChart(section: Section, metricId: string): string | null {
  const metric: Metric = section.metrics.find((m) => m.id === metricId)!;
  const rows = section.rows.map((r) => ({ row: r, stat: r.stats[metricId] }));
  const values = rows.flatMap(({ stat }) => (stat && Number.isFinite(stat.max) ? [stat.max] : []));
  if (values.length === 0) return null;
  const top = Math.max(...values) * 1.05 || 1;
  const x = (v: number): number => LABEL_W + (Math.max(0, v) / top) * BAR_W;
  const height = TOP + rows.length * ROW_H + 34;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif" font-size="13">`,
    `<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#e5e7eb"/><line x1="0" y1="0" x2="0" y2="6" stroke="#9ca3af" stroke-width="3"/></pattern></defs>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="600">${escape(`${section.title}: ${metric.name}`)}</text>`,
    `<text x="10" y="40" fill="#4b5563">${escape(`median of ${section.reps} run${section.reps === 1 ? "" : "s"} per system, whiskers show the range; ${metric.better} is better`)}</text>`,
  ];
  rows.forEach(({ row, stat }, i) => {
    const y = TOP + i * ROW_H;
    parts.push(`<text x="${LABEL_W - 8}" y="${y + 17}" text-anchor="end">${escape(row.label)}</text>`);
    if (!stat || !Number.isFinite(stat.median)) {
      parts.push(`<text x="${LABEL_W + 4}" y="${y + 17}" fill="#6b7280">${escape(row.skipped ? `skipped: ${row.skipped}`.slice(0, 90) : "no figure")}</text>`);
      return;
    }
    const relay = row.key.startsWith("relay");
    const fill = row.generatorBound ? "url(#hatch)" : relay ? "#2563eb" : "#9ca3af";
    parts.push(`<rect x="${LABEL_W}" y="${y + 5}" width="${(x(stat.median) - LABEL_W).toFixed(1)}" height="${ROW_H - 10}" fill="${fill}"/>`);
    if (stat.runs > 1) {
      const y0 = y + ROW_H / 2;
      parts.push(
        `<line x1="${x(stat.min).toFixed(1)}" y1="${y0}" x2="${x(stat.max).toFixed(1)}" y2="${y0}" stroke="#111827" stroke-width="1.5"/>`,
        `<line x1="${x(stat.min).toFixed(1)}" y1="${y0 - 5}" x2="${x(stat.min).toFixed(1)}" y2="${y0 + 5}" stroke="#111827" stroke-width="1.5"/>`,
        `<line x1="${x(stat.max).toFixed(1)}" y1="${y0 - 5}" x2="${x(stat.max).toFixed(1)}" y2="${y0 + 5}" stroke="#111827" stroke-width="1.5"/>`,
      );
    }
    const note = row.generatorBound ? " (generator-bound)" : row.disturbed ? " (disturbed)" : "";
    parts.push(`<text x="${LABEL_W + BAR_W + 10}" y="${y + 17}">${escape(fmt(stat.median, metric.unit) + note)}</text>`);
  });
  const axisY = TOP + rows.length * ROW_H + 6;
  parts.push(`<line x1="${LABEL_W}" y1="${TOP}" x2="${LABEL_W}" y2="${axisY}" stroke="#6b7280"/>`);
  parts.push(`<text x="${LABEL_W}" y="${axisY + 16}" fill="#6b7280">0</text>`);
  parts.push(`<text x="${LABEL_W + BAR_W}" y="${axisY + 16}" text-anchor="end" fill="#6b7280">${escape(fmt(top, metric.unit))}</text>`);
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

/** Every chart of every section: file name (without folder) and SVG text. */
export function allCharts(sections: readonly Section[]): { file: string; section: string; metric: string; svg: string }[] {
  return sections.flatMap((s) =>
    s.charts.flatMap((m) => {
      const svg = barChart(s, m);
      return svg ? [{ file: `${s.id}${s.charts.length > 1 ? `-${m}` : ""}.svg`, section: s.id, metric: m, svg }] : [];
    }),
  );
}
