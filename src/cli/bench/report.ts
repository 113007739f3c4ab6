// ucx-bench's results: from measurements to rows, and rows to a table, JSON or CSV.
import { TESTS, formatSize, type Case, type Metric, type TestName } from './args.js';
import type { Measurement } from './tests.js';

/** MB here is 2^20 bytes, as ucx_perftest prints it, so that ratios compare like with like. */
export const MB = 1024 * 1024;

/** ucx_perftest's final row for one test and size. */
export interface RawResult {
  test: string;
  iters: number;
  latP50Us: number;
  latAvgUs: number;
  bwMBps: number;
  msgRate: number;
}

/** Node net's reading of one case (--baseline tcp). */
export interface NetResult {
  latP50Us: number;
  latAvgUs: number;
  bwMBps: number;
  msgRate: number;
}

export interface ResultRow {
  test: TestName;
  size: number;
  iters: number;
  warmup: number;
  /** Operations per window (bandwidth tests), null for ping-pong tests. */
  window: number | null;
  latP50Us: number;
  latAvgUs: number;
  /** The --percentile latency. */
  latPctUs: number;
  /** Which percentile latPctUs is (--percentile). */
  percentile: number;
  bwMBps: number;
  msgRate: number;
  /** null, or what the server's check of the data found wrong. */
  check: string | null;
  /** --compare: ucx_perftest's numbers, or why there are none. */
  raw?: RawResult | { error: string } | null;
  /** --compare: node-ucx / raw UCX for the test's metric (latency: > 1 is slower; bandwidth and rate: < 1 is slower). */
  ratio?: number | null;
  /** --baseline tcp: Node net's numbers for the same case, or why there are none (null: no net counterpart). */
  net?: NetResult | { error: string } | null;
  /** --baseline tcp: node-ucx / net for the test's metric (same direction as ratio). */
  netRatio?: number | null;
  /** --repeat: the metric of every run, in run order (the row is the median run). */
  runs?: number[];
  /** --repeat with --compare: ucx_perftest's metric of every run. */
  rawRuns?: number[];
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function toRow(c: Case, m: Measurement, pct: number): ResultRow {
  const info = TESTS[c.test];
  const sorted = Float64Array.from(m.samples).sort();
  let latAvgUs: number;
  let bwMBps: number;
  let msgRate: number;
  if (info.kind === 'lat') {
    latAvgUs = m.samples.reduce((sum, x) => sum + x, 0) / Math.max(1, m.samples.length);
    msgRate = 1e6 / latAvgUs;
    bwMBps = (c.size * msgRate) / MB;
  } else {
    const seconds = m.totalUs / 1e6;
    latAvgUs = m.totalUs / c.iters;
    msgRate = c.iters / seconds;
    bwMBps = (c.iters * c.size) / seconds / MB;
  }
  return {
    test: c.test,
    size: c.size,
    iters: c.iters,
    warmup: c.warmup,
    window: info.kind === 'bw' ? c.window : null,
    latP50Us: percentile(sorted, 50),
    latAvgUs,
    latPctUs: percentile(sorted, pct),
    percentile: pct,
    bwMBps,
    msgRate,
    check: m.check,
  };
}

export function isRaw(raw: ResultRow['raw']): raw is RawResult {
  return typeof raw === 'object' && raw !== null && !('error' in raw);
}

/** The number a test is judged by, from node-ucx's row or ucx_perftest's. */
export function metricOf(metric: Metric, r: { latP50Us: number; bwMBps: number; msgRate: number }): number {
  return metric === 'latency' ? r.latP50Us : metric === 'bandwidth' ? r.bwMBps : r.msgRate;
}

/** The median of several runs of one case, by the test's metric (the lower middle one for an even count). */
export function medianRun<T extends { latP50Us: number; bwMBps: number; msgRate: number }>(runs: readonly T[], metric: Metric): T {
  if (runs.length === 0) throw new RangeError('medianRun of no runs');
  const sorted = [...runs].sort((a, b) => metricOf(metric, a) - metricOf(metric, b));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** Folds the repeated runs of one case into its median row, keeping every run's metric. */
export function medianRow(runs: readonly ResultRow[]): ResultRow {
  const metric = TESTS[runs[0]!.test].metric;
  const row = { ...medianRun(runs, metric) };
  if (runs.length > 1) row.runs = runs.map((run) => metricOf(metric, run));
  row.check = runs.find((run) => run.check !== null)?.check ?? null;
  return row;
}

export function attachRaw(row: ResultRow, raw: RawResult | { error: string } | null): void {
  row.raw = raw;
  const metric = TESTS[row.test].metric;
  row.ratio = isRaw(raw) && metricOf(metric, raw) > 0 ? metricOf(metric, row) / metricOf(metric, raw) : null;
}

export function isNet(net: ResultRow['net']): net is NetResult {
  return typeof net === 'object' && net !== null && !('error' in net);
}

/** Gives a row Node net's reading (from the same case measured over node:net), and the ratio node-ucx / net. */
export function attachNet(row: ResultRow, net: NetResult | { error: string } | null): void {
  row.net = net;
  const metric = TESTS[row.test].metric;
  row.netRatio = isNet(net) && metricOf(metric, net) > 0 ? metricOf(metric, row) / metricOf(metric, net) : null;
}

/** The net numbers of a row made by toRow from a net measurement. */
export function netResultOf(row: ResultRow): NetResult {
  return { latP50Us: row.latP50Us, latAvgUs: row.latAvgUs, bwMBps: row.bwMBps, msgRate: row.msgRate };
}

// ---- number formatting ----

export function formatUs(us: number): string {
  if (!Number.isFinite(us)) return '-';
  if (us < 10) return us.toFixed(2);
  if (us < 1000) return us.toFixed(1);
  return Math.round(us).toString();
}

export function formatMBps(mbps: number): string {
  if (!Number.isFinite(mbps)) return '-';
  return mbps < 10 ? mbps.toFixed(2) : Math.round(mbps).toString();
}

/** 5572715 → '5.57M', 38023 → '38.0k', 950 → '950'. */
export function formatRate(rate: number): string {
  if (!Number.isFinite(rate)) return '-';
  if (rate >= 1e6) return `${(rate / 1e6).toFixed(2)}M`;
  if (rate >= 1e3) return `${(rate / 1e3).toFixed(1)}k`;
  return Math.round(rate).toString();
}

function formatMetric(metric: Metric, r: { latP50Us: number; bwMBps: number; msgRate: number }): string {
  if (metric === 'latency') return `${formatUs(r.latP50Us)} µs`;
  if (metric === 'bandwidth') return `${formatMBps(r.bwMBps)} MB/s`;
  return `${formatRate(r.msgRate)} msg/s`;
}

export function formatPct(p: number): string {
  return `p${Number(p.toFixed(3))}`;
}

// ---- renderers ----

export interface TableOptions {
  percentile: number;
  compare: boolean;
  /** --baseline tcp: the net and node/net columns. */
  baseline?: boolean;
}

function tableCells(rows: readonly ResultRow[], opts: TableOptions): string[][] {
  const header = ['test', 'size', 'iters', 'p50 µs', 'avg µs', `${formatPct(opts.percentile)} µs`, 'MB/s', 'msg/s'];
  if (opts.compare) header.push('ucx_perftest', 'node/raw');
  if (opts.baseline) header.push('net', 'node/net');
  const lines: string[][] = [header];
  for (const row of rows) {
    const cells = [
      row.test,
      formatSize(row.size),
      String(row.iters),
      formatUs(row.latP50Us),
      formatUs(row.latAvgUs),
      formatUs(row.latPctUs),
      formatMBps(row.bwMBps),
      formatRate(row.msgRate),
    ];
    if (opts.compare) {
      const metric = TESTS[row.test].metric;
      if (isRaw(row.raw)) cells.push(formatMetric(metric, row.raw));
      else if (row.raw && 'error' in row.raw) cells.push('failed');
      else cells.push('-');
      cells.push(row.ratio == null ? '-' : `${row.ratio.toFixed(2)}×`);
    }
    if (opts.baseline) {
      const metric = TESTS[row.test].metric;
      if (isNet(row.net)) cells.push(formatMetric(metric, row.net));
      else cells.push(row.net && 'error' in row.net ? 'failed' : '-');
      cells.push(row.netRatio == null ? '-' : `${row.netRatio.toFixed(2)}×`);
    }
    lines.push(cells);
  }
  return lines;
}

/** A plain-text table, columns right-aligned except the test name. */
export function renderTable(rows: readonly ResultRow[], opts: TableOptions): string {
  const lines = tableCells(rows, opts);
  const header = lines[0]!;
  const widths = header.map((_, i) => Math.max(...lines.map((cells) => [...cells[i]!].length)));
  return (
    lines
      .map((cells) =>
        cells
          .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** Six significant digits: enough for any reading, without float noise. */
/** The same table in Markdown (for docs/performance.md). */
export function renderMarkdown(rows: readonly ResultRow[], opts: TableOptions): string {
  const [header, ...body] = tableCells(rows, opts);
  const align = header!.map((_, i) => (i === 0 ? ':--' : '--:'));
  return [header!, align, ...body].map((cells) => `| ${cells.join(' | ')} |`).join('\n') + '\n';
}

function round(x: number): number | null {
  return Number.isFinite(x) ? Number(x.toPrecision(6)) : null;
}

/**
 * A row as the JSON output writes it (field names like anchors/perftest.sh's). The CSV's columns
 * are these names, nested objects flattened with '_' (raw.lat_p50_us is raw_lat_p50_us).
 */
export function rowToJson(row: ResultRow): Record<string, unknown> {
  const out: Record<string, unknown> = {
    test: row.test,
    size: row.size,
    iters: row.iters,
    warmup: row.warmup,
    window: row.window,
    percentile: row.percentile,
    lat_p50_us: round(row.latP50Us),
    lat_avg_us: round(row.latAvgUs),
    lat_pct_us: round(row.latPctUs),
    bw_MBps: round(row.bwMBps),
    msg_rate: round(row.msgRate),
    check: row.check,
  };
  if (row.raw !== undefined) {
    out.raw = isRaw(row.raw)
      ? {
          tool: 'ucx_perftest',
          test: row.raw.test,
          iters: row.raw.iters,
          lat_p50_us: round(row.raw.latP50Us),
          lat_avg_us: round(row.raw.latAvgUs),
          bw_MBps: round(row.raw.bwMBps),
          msg_rate: round(row.raw.msgRate),
        }
      : row.raw;
    out.ratio = row.ratio == null ? null : round(row.ratio);
    out.ratio_of = TESTS[row.test].metric;
  }
  if (row.net !== undefined) {
    out.net = isNet(row.net)
      ? {
          tool: 'node:net',
          lat_p50_us: round(row.net.latP50Us),
          lat_avg_us: round(row.net.latAvgUs),
          bw_MBps: round(row.net.bwMBps),
          msg_rate: round(row.net.msgRate),
        }
      : row.net;
    out.net_ratio = row.netRatio == null ? null : round(row.netRatio);
  }
  if (row.runs !== undefined) out.runs = row.runs.map(round);
  if (row.rawRuns !== undefined) out.raw_runs = row.rawRuns.map(round);
  return out;
}

function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The CSV columns: rowToJson's names, flattened; which groups appear follows the options. */
export function csvColumns(opts: TableOptions, rows: readonly ResultRow[] = []): string[] {
  const columns = ['test', 'size', 'iters', 'warmup', 'window', 'percentile', 'lat_p50_us', 'lat_avg_us', 'lat_pct_us', 'bw_MBps', 'msg_rate', 'check'];
  if (opts.compare) {
    columns.push('raw_tool', 'raw_test', 'raw_iters', 'raw_lat_p50_us', 'raw_lat_avg_us', 'raw_bw_MBps', 'raw_msg_rate', 'raw_error', 'ratio', 'ratio_of');
  }
  if (opts.baseline) columns.push('net_tool', 'net_lat_p50_us', 'net_lat_avg_us', 'net_bw_MBps', 'net_msg_rate', 'net_error', 'net_ratio');
  if (rows.some((row) => row.runs !== undefined)) columns.push('runs');
  if (rows.some((row) => row.rawRuns !== undefined)) columns.push('raw_runs');
  return columns;
}

/** rowToJson's object with nested objects flattened ('raw' + 'lat_p50_us' -> 'raw_lat_p50_us'), lists joined by spaces. */
export function flattenRow(json: Record<string, unknown>): Record<string, unknown> {
  const flat: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    if (Array.isArray(value)) flat[key] = value.join(' ');
    else if (typeof value === 'object' && value !== null) for (const [inner, v] of Object.entries(value)) flat[`${key}_${inner}`] = v;
    else flat[key] = value;
  }
  return flat;
}

/** CSV with the JSON output's field names (see csvColumns); the --percentile is a column of its own. */
export function renderCsv(rows: readonly ResultRow[], opts: TableOptions): string {
  const columns = csvColumns(opts, rows);
  const lines = [columns.join(',')];
  for (const row of rows) {
    const flat = flattenRow(rowToJson(row));
    lines.push(columns.map((column) => csvCell(flat[column])).join(','));
  }
  return lines.join('\n') + '\n';
}
