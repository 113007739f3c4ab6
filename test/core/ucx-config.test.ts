// node-ucx's own UCX defaults (defaults.ucxConfig) are set only where a transport reads them: UCX
// warns "invalid configuration" on stderr about options nothing read, which users take for a fault.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';

const SCRIPT = `
import { Context } from 'node-ucx';
const context = new Context();
const worker = context.createWorker();
await worker.close();
context.close();
console.log('ok');
`;

function run(env: Record<string, string>): { stdout: string; stderr: string } {
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { stdout: child.stdout, stderr: child.stderr };
}

describe('defaults.ucxConfig and UCX_TLS', () => {
  it.each(['tcp', 'shm,self', '^tcp', 'posix,tcp', 'all', 'sm,tcp'])('UCX_TLS=%s: no UCX warning about unread options', (tls) => {
    const { stdout, stderr } = run({ UCX_TLS: tls });
    expect(stdout.trim()).toBe('ok');
    expect(stderr).not.toMatch(/invalid configuration|unused env variable/);
  });
});
