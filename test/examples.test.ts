// Every runnable example in docs/examples/ must work as documented: run it with
// `node` and expect exit code 0 within 30 s. The list comes from the directory,
// so a new example is covered as soon as it is added. mpi-*.mjs and *-mpirun.mjs examples
// need a launcher (ucx-run) and are left to the MPI and scheduler suites.
import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const EXAMPLES = path.join(ROOT, 'docs', 'examples');
const DEADLINE_MS = 30_000;

const examples = fs.existsSync(EXAMPLES)
  ? fs
      .readdirSync(EXAMPLES)
      .filter((name) => name.endsWith('.mjs') && !name.startsWith('mpi-') && !name.endsWith('-mpirun.mjs'))
      .sort()
  : [];

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  ms: number;
  stdout: string;
  stderr: string;
}

function runExample(file: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, DEADLINE_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, ms: Date.now() - started, stdout, stderr });
    });
  });
}

describe('docs/examples', () => {
  it('has examples to run', () => {
    expect(examples.length).toBeGreaterThan(0);
  });

  for (const name of examples) {
    it(
      `${name} runs to completion and exits 0`,
      async () => {
        const run = await runExample(path.join(EXAMPLES, name));
        const outcome = run.timedOut ? `did not exit within ${DEADLINE_MS / 1000} s (killed)` : `exited with ${run.code ?? run.signal} after ${run.ms} ms`;
        const report = `node docs/examples/${name} ${outcome}\n--- stderr ---\n${run.stderr || '(empty)'}\n--- stdout ---\n${run.stdout || '(empty)'}`;
        expect(run.timedOut, report).toBe(false);
        expect(run.code, report).toBe(0);
      },
      DEADLINE_MS + 10_000,
    );
  }
});
