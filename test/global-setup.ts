// Builds what the suite runs against (addon, dist/, the C peer) before any test starts.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export default function setup(): void {
  const root = path.resolve(__dirname, '..');
  execFileSync(process.execPath, [path.join(root, 'scripts', 'setup.mjs'), '--quiet'], { stdio: 'inherit', cwd: root });
  // The plain-UCP programs: the interop peers, and the attacker of test/core/hardening.test.ts.
  buildCProgram(path.join(root, 'test', 'interop', 'fixtures'), 'c-peer');
  buildCProgram(path.join(root, 'test', 'interop', 'fixtures'), 'stream-peer');
  buildCProgram(path.join(root, 'test', 'core', 'fixtures'), 'attacker');
}

/** Compiles <fixtures>/<name>.c into <fixtures>/bin/<name> when missing or older than its source. */
function buildCProgram(fixtures: string, name: string): void {
  const source = path.join(fixtures, `${name}.c`);
  const binary = path.join(fixtures, 'bin', name);
  if (fs.existsSync(binary) && fs.statSync(binary).mtimeMs >= fs.statSync(source).mtimeMs) return;
  const cc = process.env.CC ?? 'cc';
  const flags = spawnSync('pkg-config', ['--cflags', '--libs', 'ucx'], { encoding: 'utf8' });
  if (flags.status !== 0) throw new Error(`cannot build ${name}: 'pkg-config --cflags --libs ucx' failed (${flags.error?.message ?? flags.stderr.trim()})`);
  fs.mkdirSync(path.dirname(binary), { recursive: true });
  const args = ['-O2', '-Wall', '-o', binary, source, ...flags.stdout.trim().split(/\s+/)];
  const result = spawnSync(cc, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.error) throw new Error(`cannot build ${name}: C compiler '${cc}' not found (install gcc, or set CC): ${result.error.message}`);
  if (result.status !== 0) throw new Error(`cannot build ${name}: ${cc} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
}
