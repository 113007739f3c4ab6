// Builds what the suite runs against (addon, dist/, the C peer) before any test starts.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export default function setup(): void {
  const root = path.resolve(__dirname, '..');
  execFileSync(process.execPath, [path.join(root, 'scripts', 'setup.mjs'), '--quiet'], { stdio: 'inherit', cwd: root });
}
