// A nanny closed right after its worker process died: the 'close' message it sends over the broken IPC
// pipe must not surface as an uncaught EPIPE in the process that owns the cluster (it did, about one run
// in three of the fixture's 20 rounds, before the nanny listened for its child's 'error' events).
import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./fixtures/nanny-epipe.mjs', import.meta.url));

describe('nanny', () => {
  it('closing a LocalCluster whose workers were just SIGKILLed never crashes on the dead IPC pipe', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [FIXTURE], { timeout: 150_000 });
    expect(stdout.trim()).toBe('ok 20');
  }, 180_000);
});
