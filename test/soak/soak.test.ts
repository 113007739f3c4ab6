// The soak (scripts/soak.mjs, `npm run soak` runs it for 10 minutes) for 60 s: two processes, 16
// endpoints, every API at once (endpoint messages, raw tags, streams, active messages, RMA put/get,
// the ucx:// transport), each message numbered, checksummed and echoed back. Nothing may be lost,
// duplicated or corrupted, and after the warm-up neither process may grow in RSS or open fds.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it, expect } from 'vitest';

const SOAK = path.resolve(__dirname, '..', '..', 'scripts', 'soak.mjs');

interface Summary {
  ok: boolean;
  total: number;
  messages: Record<string, number>;
  peerChecked: Record<string, number>;
  loss: number;
  duplicates: number;
  corruption: number;
  errors: string[];
  growth: { rssMiB: number; peerRssMiB: number; fds: number; peerFds: number };
  apis: string[];
}

describe('soak', () => {
  it('60 s, 16 endpoints, every API: no loss, duplicate or corruption; RSS and fds bounded after the warm-up', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [SOAK, '--seconds', '60', '--endpoints', '16', '--json', ...(process.env.LD_PRELOAD?.includes('libasan') ? ['--max-rss-growth-mib', '100000'] : [])],
        { timeout: 150_000, maxBuffer: 16 << 20 },
        (error, stdout, stderr) => {
          // Exit 1 is the soak's own verdict: the summary below says why.
          if (error && error.code !== 1) reject(new Error(`soak: ${error.message}\n${stderr}`));
          else resolve(stdout);
        },
      );
    });
    const summary = JSON.parse(out.trim().split('\n').pop()!) as Summary;
    expect(summary.errors).toEqual([]);
    expect({ loss: summary.loss, duplicates: summary.duplicates, corruption: summary.corruption }).toEqual({ loss: 0, duplicates: 0, corruption: 0 });
    expect(summary.apis).toEqual(['message', 'tag', 'stream', 'am', 'rma', 'transport']);
    for (const api of summary.apis) expect(summary.messages[api], api).toBeGreaterThan(100);
    // The peer checked every message that came back (RMA never reaches its code).
    for (const api of summary.apis.filter((a) => a !== 'rma')) expect(summary.peerChecked[api], api).toBeGreaterThanOrEqual(summary.messages[api]!);
    expect(summary.growth.fds).toBeLessThanOrEqual(8);
    expect(summary.growth.peerFds).toBeLessThanOrEqual(8);
    // Under AddressSanitizer (scripts/asan.sh) freed memory sits in ASAN's quarantine: RSS says nothing there.
    if (!process.env.LD_PRELOAD?.includes('libasan')) {
      expect(summary.growth.rssMiB).toBeLessThanOrEqual(64);
      expect(summary.growth.peerRssMiB).toBeLessThanOrEqual(64);
      expect(summary.ok).toBe(true);
    }
  }, 180_000);
});
