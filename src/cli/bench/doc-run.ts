// ucx-bench report: re-measures the targets of docs/performance.md (P1–P7),
// each with its own ucx-bench run (--json --compare, shared memory), and
// rewrites only the document's generated block and the plot next to it.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { version } from '../../index.js';
import { TESTS, isTestName, type BenchOptions, type Metric } from './args.js';
import { renderTargetBlock, replaceReportBlock, type TargetRow } from './doc.js';
import { renderPlotSvg, seriesFromRows, type PlotRow } from './plot.js';

/** One run of the report: its arguments (besides --json --compare) and the label its rows carry. */
interface ReportRun { target: string; setting: string; args: string[] }

const COMMON = ['--error-handling', 'none', '--json', '--compare'];

/** Modest iterations: the whole report (with ucx_perftest) takes a minute or two on two cores. */
export const REPORT_RUNS: readonly ReportRun[] = [
  { target: 'P1', setting: 'poll', args: ['-t', 'tag_lat', '-s', '8', '-n', '5000', '--progress', 'poll'] },
  { target: 'P2', setting: 'event', args: ['-t', 'tag_lat', '-s', '8', '-n', '5000', '--progress', 'event'] },
  { target: 'P3', setting: 'adaptive', args: ['-t', 'tag_lat', '-s', '8', '-n', '5000', '--progress', 'adaptive'] },
  { target: 'P4', setting: 'event', args: ['-t', 'tag_bw,ep_bw', '-s', '64K,256K,1M,4M', '-n', '512'] },
  { target: 'P5', setting: 'event', args: ['-t', 'msg_rate', '-s', '8', '-n', '50000'] },
  { target: 'P6', setting: 'event', args: ['-t', 'put_bw,get_bw', '-s', '1M', '-n', '512'] },
  { target: 'P7', setting: 'poll', args: ['-t', 'obj_lat', '-s', '8', '-n', '5000', '--progress', 'poll'] },
];

/** mpi4py's pickled send/recv half round trip of a small object on this VM (TARGETS.md), for P7. */
const MPI4PY_OBJECT_US = 2.9;

interface JsonResult {
  test: string;
  size: number;
  lat_p50_us: number;
  bw_MBps: number;
  msg_rate: number;
  raw?: { lat_p50_us: number; bw_MBps: number; msg_rate: number } | { error: string } | null;
  ratio?: number | null;
}

function metricValue(metric: Metric, r: { lat_p50_us: number; bw_MBps: number; msg_rate: number }): number {
  return metric === 'latency' ? r.lat_p50_us : metric === 'bandwidth' ? r.bw_MBps : r.msg_rate;
}

function runJson(script: string, args: string[], timeoutMs: number): Promise<JsonResult[]> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, ...args], { timeout: timeoutMs, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`ucx-bench ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve((JSON.parse(stdout) as { results: JsonResult[] }).results);
    });
  });
}

const GOALS: Record<string, { goal: string; check: (ratio: number) => boolean }> = {
  P1: { goal: '≤ 2.0 × ucx_perftest', check: (r) => r <= 2.0 },
  P2: { goal: '≤ 10 × ucx_perftest', check: (r) => r <= 10 },
  P3: { goal: '≤ 1.3 × poll (P1 row); idle CPU not measured', check: (r) => r <= 1.3 },
  P4: { goal: '≥ 0.9 × ucx_perftest', check: (r) => r >= 0.9 },
  P5: { goal: '≥ 0.25 × ucx_perftest', check: (r) => r >= 0.25 },
  P6: { goal: '≥ 0.9 × ucx_perftest', check: (r) => r >= 0.9 },
  P7: { goal: `< mpi4py pickled (${MPI4PY_OBJECT_US} µs)`, check: (r) => r < 1 },
};

/** The target rows of one run's results; P3 is judged against the P1 (poll) reading, P7 against mpi4py. */
export function targetRows(run: ReportRun, results: readonly JsonResult[], pollP50: number | null, command: string): TargetRow[] {
  return results.map((r) => {
    const metric = isTestName(r.test) ? TESTS[r.test].metric : 'latency';
    const node = metricValue(metric, r);
    let reference: number | null = null;
    let referenceLabel = 'ucx_perftest';
    if (run.target === 'P3') {
      reference = pollP50;
      referenceLabel = 'node-ucx poll';
    } else if (run.target === 'P7') {
      reference = MPI4PY_OBJECT_US;
      referenceLabel = 'mpi4py';
    } else if (r.raw && !('error' in r.raw)) {
      reference = metricValue(metric, r.raw);
    }
    const ratio = reference !== null && reference > 0 ? node / reference : null;
    const goal = GOALS[run.target]!;
    return {
      target: run.target, test: r.test, size: r.size, setting: run.setting, metric, node, reference, referenceLabel, ratio,
      goal: goal.goal, met: ratio === null ? null : goal.check(ratio), command,
    };
  });
}

/** `ucx-bench report`: measures, writes the plot next to the document, rewrites the document's block. */
export async function runReport(options: BenchOptions, script: string): Promise<number> {
  const doc = path.resolve(options.doc);
  const before = readFileSync(doc, 'utf8');
  const svgFile = doc.replace(/\.md$/i, '') + '.svg';
  const rows: TargetRow[] = [];
  const plotRows: PlotRow[] = [];
  const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  let pollP50: number | null = null;
  for (const run of REPORT_RUNS) {
    const args = [...run.args, ...COMMON];
    process.stderr.write(`ucx-bench report: ${run.target}: ucx-bench ${args.join(' ')}\n`);
    const results = await runJson(script, args, 5 * 60_000);
    const command = `ucx-bench ${args.filter((arg) => arg !== '--json').join(' ')}`;
    if (run.target === 'P1') pollP50 = results[0]?.lat_p50_us ?? null;
    rows.push(...targetRows(run, results, pollP50, command));
    for (const r of results) {
      const raw = r.raw && !('error' in r.raw) ? { latP50Us: r.raw.lat_p50_us, bwMBps: r.raw.bw_MBps } : null;
      plotRows.push({ test: `${r.test} ${run.setting}`, size: r.size, latP50Us: r.lat_p50_us, bwMBps: r.bw_MBps, raw });
    }
  }
  writeFileSync(svgFile, renderPlotSvg(seriesFromRows(plotRows), `ucx-bench report, node-ucx ${version.binding}, UCX ${version.ucx}`));
  const cpus = os.cpus();
  const block = renderTargetBlock(rows, {
    date: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    command: 'npm run bench:report',
    binding: version.binding,
    ucx: version.ucx,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown CPU',
    load,
    plot: path.basename(svgFile),
  });
  writeFileSync(doc, replaceReportBlock(before, block));
  process.stderr.write(`ucx-bench report: rewrote the generated block of ${options.doc} and wrote ${path.relative(process.cwd(), svgFile)}\n`);
  return 0;
}
