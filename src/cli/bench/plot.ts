// ucx-bench --plot: latency (p50 µs, log scale) and bandwidth (MB/s) against
// message size (log2), one line per test, as a dependency-free SVG (or an HTML
// page around it). Pure functions: unit tests import them from dist.
import { formatSize } from './args.js';

export interface PlotPoint {
  size: number;
  latP50Us: number;
  bwMBps: number;
}

/** One line in both panels: node-ucx (solid), ucx_perftest (dashed) or Node net (dotted). */
export interface PlotSeries {
  test: string;
  source: 'node-ucx' | 'ucx_perftest' | 'net';
  points: PlotPoint[];
}

/** What the plot needs of a result row (bench-report's ResultRow fits). */
export interface PlotRow extends PlotPoint {
  test: string;
  /** ucx_perftest's numbers (--compare), or anything else (an error, null): not drawn. */
  raw?: unknown;
  /** Node net's numbers (--baseline tcp), likewise. */
  net?: unknown;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
/** Marker shapes, one per test (with its colour): tests stay apart in grey print and for colour-blind readers. */
export const MARKERS = ['circle', 'square', 'triangle', 'diamond', 'triangle-down', 'cross', 'plus', 'star'] as const;
export type Marker = (typeof MARKERS)[number];

/** The colour of the i-th test: ten fixed ones, then hues spread by the golden angle (never repeating). */
export function colorOf(i: number): string {
  if (i < COLORS.length) return COLORS[i]!;
  const hue = Math.round(((i - COLORS.length) * 137.508 + 20) % 360);
  const light = 35 + ((i - COLORS.length) % 3) * 10;
  return `hsl(${hue}, 70%, ${light}%)`;
}

/** SVG for one marker at (x, y). */
function markerSvg(marker: Marker, x: number, y: number, color: string): string {
  const r = 3.2;
  const at = (points: [number, number][]): string => points.map(([dx, dy]) => `${(x + dx).toFixed(1)},${(y + dy).toFixed(1)}`).join(' ');
  switch (marker) {
    case 'circle':
      return `<circle class="marker" cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${r}" fill="${color}"/>`;
    case 'square':
      return `<rect class="marker" x="${(x - r).toFixed(1)}" y="${(y - r).toFixed(1)}" width="${2 * r}" height="${2 * r}" fill="${color}"/>`;
    case 'triangle':
      return `<polygon class="marker" points="${at([
        [0, -r - 0.8],
        [r + 0.6, r],
        [-r - 0.6, r],
      ])}" fill="${color}"/>`;
    case 'triangle-down':
      return `<polygon class="marker" points="${at([
        [0, r + 0.8],
        [r + 0.6, -r],
        [-r - 0.6, -r],
      ])}" fill="${color}"/>`;
    case 'diamond':
      return `<polygon class="marker" points="${at([
        [0, -r - 1],
        [r + 1, 0],
        [0, r + 1],
        [-r - 1, 0],
      ])}" fill="${color}"/>`;
    case 'cross':
      return `<path class="marker" d="M${at([[-r, -r]])}L${at([[r, r]])}M${at([[-r, r]])}L${at([[r, -r]])}" stroke="${color}" stroke-width="2"/>`;
    case 'plus':
      return `<path class="marker" d="M${at([[-r - 0.5, 0]])}L${at([[r + 0.5, 0]])}M${at([[0, -r - 0.5]])}L${at([[0, r + 0.5]])}" stroke="${color}" stroke-width="2"/>`;
    case 'star': {
      const points: [number, number][] = [];
      for (let k = 0; k < 10; k++) {
        const radius = k % 2 === 0 ? r + 1.5 : (r + 1.5) / 2.2;
        const angle = -Math.PI / 2 + (k * Math.PI) / 5;
        points.push([radius * Math.cos(angle), radius * Math.sin(angle)]);
      }
      return `<polygon class="marker" points="${at(points)}" fill="${color}"/>`;
    }
  }
}

interface Style {
  color: string;
  marker: Marker;
}
const DASH: Record<PlotSeries['source'], string> = { 'node-ucx': '', ucx_perftest: '6 4', net: '2 3' };
const PANEL_W = 420;
const PANEL_H = 300;
const MARGIN = { left: 64, right: 16, top: 32, bottom: 54 };
const LEGEND_H = 20;

function hasNumbers(value: unknown): value is Omit<PlotPoint, 'size'> {
  return typeof value === 'object' && value !== null && 'latP50Us' in value && 'bwMBps' in value;
}

/** Groups rows into series: one per test and source, points in size order. */
export function seriesFromRows(rows: readonly PlotRow[]): PlotSeries[] {
  const byKey = new Map<string, PlotSeries>();
  const add = (test: string, source: PlotSeries['source'], point: PlotPoint): void => {
    const key = `${source}\u0000${test}`;
    let series = byKey.get(key);
    if (series === undefined) byKey.set(key, (series = { test, source, points: [] }));
    series.points.push(point);
  };
  for (const row of rows) {
    add(row.test, 'node-ucx', { size: row.size, latP50Us: row.latP50Us, bwMBps: row.bwMBps });
    if (hasNumbers(row.raw)) add(row.test, 'ucx_perftest', { size: row.size, latP50Us: row.raw.latP50Us, bwMBps: row.raw.bwMBps });
    if (hasNumbers(row.net)) add(row.test, 'net', { size: row.size, latP50Us: row.net.latP50Us, bwMBps: row.net.bwMBps });
  }
  for (const series of byKey.values()) series.points.sort((a, b) => a.size - b.size);
  return [...byKey.values()];
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

interface Axis {
  min: number;
  max: number;
  log: boolean;
}

/** Ticks: powers of two (sizes), powers of ten (log values), or about five round steps (linear). */
function ticks(axis: Axis, base: 2 | 10): number[] {
  if (axis.log) {
    const out: number[] = [];
    const step = base === 2 ? Math.max(1, Math.ceil((Math.log2(axis.max) - Math.log2(axis.min)) / 8)) : 1;
    for (let e = Math.floor(Math.log(axis.min) / Math.log(base)); base ** e <= axis.max * 1.0001; e += step) {
      if (base ** e >= axis.min / 1.0001) out.push(base ** e);
    }
    return out;
  }
  const raw = (axis.max - axis.min) / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(axis.min / step) * step; v <= axis.max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function axisOf(values: readonly number[], log: boolean, base: 2 | 10): Axis {
  const good = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  if (good.length === 0) return { min: 1, max: base, log };
  let min = Math.min(...good);
  let max = Math.max(...good);
  if (log) {
    min = base ** Math.floor(Math.log(min) / Math.log(base));
    max = base ** Math.ceil(Math.log(max) / Math.log(base));
    if (max <= min) max = min * base;
  } else {
    min = 0;
    if (max <= 0) max = 1;
    max *= 1.05;
  }
  return { min, max, log };
}

function scale(axis: Axis, value: number, length: number): number {
  const f = axis.log ? (Math.log(value) - Math.log(axis.min)) / (Math.log(axis.max) - Math.log(axis.min)) : (value - axis.min) / (axis.max - axis.min);
  return f * length;
}

function formatTick(value: number): string {
  if (value >= 1e6) return `${Number((value / 1e6).toPrecision(3))}M`;
  if (value >= 1e3) return `${Number((value / 1e3).toPrecision(3))}k`;
  return String(Number(value.toPrecision(3)));
}

interface Panel {
  title: string;
  yLabel: string;
  value: (p: PlotPoint) => number;
  log: boolean;
}

function renderPanel(panel: Panel, series: readonly PlotSeries[], styleOf: (test: string) => Style, dx: number): string {
  const w = PANEL_W - MARGIN.left - MARGIN.right;
  const h = PANEL_H - MARGIN.top - MARGIN.bottom;
  const all = series.flatMap((s) => s.points);
  const x = axisOf(
    all.map((p) => p.size),
    true,
    2,
  );
  const y = axisOf(all.map(panel.value), panel.log, 10);
  const ox = dx + MARGIN.left;
  const oy = MARGIN.top;
  const px = (v: number): string => (ox + scale(x, v, w)).toFixed(1);
  const py = (v: number): string => (oy + h - scale(y, v, h)).toFixed(1);
  const parts: string[] = [
    `<g class="panel" data-panel="${escapeXml(panel.title)}">`,
    `<text x="${ox + w / 2}" y="${oy - 12}" text-anchor="middle" font-weight="bold">${escapeXml(panel.title)}</text>`,
    `<rect x="${ox}" y="${oy}" width="${w}" height="${h}" fill="none" stroke="#333"/>`,
  ];
  // Every measured size gets its grid line and its label (slanted, so that neighbours do not collide).
  const sizes = [...new Set(all.map((p) => p.size).filter((v) => Number.isFinite(v) && v > 0))].sort((a, b) => a - b);
  for (const t of sizes.length > 0 ? sizes : ticks(x, 2)) {
    parts.push(
      `<line x1="${px(t)}" y1="${oy}" x2="${px(t)}" y2="${oy + h}" stroke="#ddd"/>`,
      `<text class="size-label" x="${px(t)}" y="${oy + h + 10}" text-anchor="end" transform="rotate(-40 ${px(t)} ${oy + h + 10})">${escapeXml(formatSize(t))}</text>`,
    );
  }
  for (const t of ticks(y, 10)) {
    parts.push(
      `<line x1="${ox}" y1="${py(t)}" x2="${ox + w}" y2="${py(t)}" stroke="#ddd"/>`,
      `<text x="${ox - 4}" y="${py(t)}" text-anchor="end" dominant-baseline="middle">${formatTick(t)}</text>`,
    );
  }
  parts.push(
    `<text x="${ox + w / 2}" y="${oy + h + 40}" text-anchor="middle">message size (log2)</text>`,
    `<text transform="translate(${dx + 14} ${oy + h / 2}) rotate(-90)" text-anchor="middle">${escapeXml(panel.yLabel)}</text>`,
  );
  for (const s of series) {
    const points = s.points.filter((p) => Number.isFinite(panel.value(p)) && (!panel.log || panel.value(p) > 0));
    if (points.length === 0) continue;
    const { color, marker } = styleOf(s.test);
    const dash = DASH[s.source] ? ` stroke-dasharray="${DASH[s.source]}"` : '';
    parts.push(
      `<g class="points" data-test="${escapeXml(s.test)}" data-source="${s.source}" data-marker="${marker}">`,
      `<polyline class="line" data-test="${escapeXml(s.test)}" data-source="${s.source}" fill="none" stroke="${color}" stroke-width="2"${dash} ` +
        `points="${points.map((p) => `${px(p.size)},${py(panel.value(p))}`).join(' ')}"/>`,
    );
    for (const p of points) parts.push(markerSvg(marker, Number(px(p.size)), Number(py(panel.value(p))), color));
    parts.push('</g>');
  }
  parts.push('</g>');
  return parts.join('\n');
}

function renderLegend(series: readonly PlotSeries[], styleOf: (test: string) => Style, top: number): string {
  const parts: string[] = ['<g class="legend">'];
  series.forEach((s, i) => {
    const x = MARGIN.left + (i % 4) * 200;
    const y = top + Math.floor(i / 4) * LEGEND_H;
    const dash = DASH[s.source] ? ` stroke-dasharray="${DASH[s.source]}"` : '';
    const { color, marker } = styleOf(s.test);
    parts.push(
      `<g class="series" data-test="${escapeXml(s.test)}" data-source="${s.source}" data-color="${color}" data-marker="${marker}">`,
      `<line x1="${x}" y1="${y}" x2="${x + 28}" y2="${y}" stroke="${color}" stroke-width="2"${dash}/>`,
      markerSvg(marker, x + 14, y, color),
      `<text x="${x + 34}" y="${y}" dominant-baseline="middle">${escapeXml(s.source === 'node-ucx' ? s.test : `${s.test} (${s.source})`)}</text>`,
      '</g>',
    );
  });
  parts.push('</g>');
  return parts.join('\n');
}

/** The SVG document: a latency panel and a bandwidth panel side by side, and a legend below (one entry per series). */
export function renderPlotSvg(series: readonly PlotSeries[], title = 'ucx-bench'): string {
  const tests = [...new Set(series.map((s) => s.test))];
  const styleOf = (test: string): Style => {
    const i = tests.indexOf(test);
    return { color: colorOf(i), marker: MARKERS[i % MARKERS.length]! };
  };
  const legendRows = Math.ceil(series.length / 4);
  const width = 2 * PANEL_W;
  const height = PANEL_H + 16 + legendRows * LEGEND_H + 8;
  const latency: Panel = { title: 'latency (p50)', yLabel: 'µs (log)', value: (p) => p.latP50Us, log: true };
  const bandwidth: Panel = { title: 'bandwidth', yLabel: 'MB/s', value: (p) => p.bwMBps, log: false };
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      'font-family="sans-serif" font-size="11">',
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    renderPanel(latency, series, styleOf, 0),
    renderPanel(bandwidth, series, styleOf, PANEL_W),
    renderLegend(series, styleOf, PANEL_H + 16),
    '</svg>',
    '',
  ].join('\n');
}

/** A minimal HTML page around the same SVG (without its XML declaration). */
export function renderPlotHtml(svg: string, title = 'ucx-bench'): string {
  const body = svg.replace(/^<\?xml[^>]*\?>\n/, '');
  return `<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>${escapeXml(title)}</title></head>\n<body>\n${body}</body>\n</html>\n`;
}

/** The file's contents for --plot FILE: .html gets the page, anything else the bare SVG. */
export function renderPlotFile(file: string, series: readonly PlotSeries[], title = 'ucx-bench'): string {
  const svg = renderPlotSvg(series, title);
  return /\.html?$/i.test(file) ? renderPlotHtml(svg, title) : svg;
}
