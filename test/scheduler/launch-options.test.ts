// The pure parts of launching: memory limits and resources as the CLIs take them, scheduler files.
import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseMemoryLimit, parseResources, systemMemory, launchRole } from '../../src/scheduler/launch.js';
import { writeSchedulerFile, readSchedulerFile, waitForSchedulerFile, LaunchError } from '../../src/scheduler/scheduler-file.js';

describe('parseMemoryLimit', () => {
  const memory = systemMemory();
  it.each([
    ['4GiB', 4 * 2 ** 30],
    ['4 GiB', 4 * 2 ** 30],
    ['4GB', 4e9],
    ['512MiB', 512 * 2 ** 20],
    ['1.5G', 1.5e9],
    ['2k', 2000],
    ['1e9', 1e9],
    ['123456', 123456],
    ['0', 0],
    ['none', 0],
    [4096, 4096],
    [0, 0],
  ] as const)('%s is %d bytes', (text, bytes) => {
    expect(parseMemoryLimit(text)).toBe(bytes);
  });

  it("fractions and percentages are of this host's memory (or its cgroup limit); auto is memory × nthreads / CPUs", () => {
    expect(systemMemory()).toBeLessThanOrEqual(os.totalmem());
    expect(parseMemoryLimit('50%')).toBe(Math.floor(0.5 * memory));
    expect(parseMemoryLimit('0.25')).toBe(Math.floor(0.25 * memory));
    expect(parseMemoryLimit(0.25)).toBe(Math.floor(0.25 * memory));
    expect(parseMemoryLimit('auto', 1)).toBe(Math.floor(memory * Math.min(1, 1 / os.availableParallelism())));
    expect(parseMemoryLimit('AUTO', 4096)).toBe(memory);
  });

  it.each(['lots', '4 parsecs', '-1', '150%', '', 'GiB'])('refuses %j', (text) => {
    expect(() => parseMemoryLimit(text)).toThrow(TypeError);
  });

  it('refuses what is not a size', () => {
    expect(() => parseMemoryLimit(-5)).toThrow(TypeError);
    expect(() => parseMemoryLimit(NaN)).toThrow(TypeError);
    expect(() => parseMemoryLimit({} as unknown as string)).toThrow(TypeError);
  });
});

describe('parseResources', () => {
  it('reads NAME=NUMBER pairs separated by commas or spaces, as dask-worker --resources', () => {
    expect(parseResources('GPU=1,MEM=4e9')).toEqual({ GPU: 1, MEM: 4e9 });
    expect(parseResources('GPU=2 foo.bar=0.5')).toEqual({ GPU: 2, 'foo.bar': 0.5 });
    expect(parseResources('')).toEqual({});
  });

  it.each(['GPU', 'GPU=', '=1', 'GPU=one', '1GPU=1'])('refuses %j', (text) => {
    expect(() => parseResources(text)).toThrow(/not NAME=NUMBER/);
  });
});

describe('launchRole', () => {
  it('rank 0 schedules, rank 1 is the client, the rest are workers; no launcher is rank 0 of 1', () => {
    expect(launchRole({ NODE_UCX_RANK: '0', NODE_UCX_SIZE: '4' })).toEqual({ rank: 0, size: 4, role: 'scheduler' });
    expect(launchRole({ OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '4' })).toEqual({ rank: 1, size: 4, role: 'client' });
    expect(launchRole({ SLURM_PROCID: '3', SLURM_NTASKS: '4' })).toEqual({ rank: 3, size: 4, role: 'worker' });
    expect(launchRole({})).toEqual({ rank: 0, size: 1, role: 'scheduler' });
  });
});

describe('scheduler files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-ucx-schedfile-'));
  const secret = Buffer.alloc(32, 3);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('are written 0600, atomically, read back, and removed only by their writer', () => {
    const file = path.join(dir, 'sub', 'scheduler.json');
    const remove = writeSchedulerFile(file, { address: 'ucx://10.0.0.1:8786', secret });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['scheduler.json']);
    expect(readSchedulerFile(file)).toEqual({ address: 'ucx://10.0.0.1:8786', secret, pid: process.pid });
    // Another scheduler took the path over: the first one's remove() leaves that file alone.
    const removeSecond = writeSchedulerFile(file, { address: 'tcp://10.0.0.2:8786', secret });
    remove();
    expect(readSchedulerFile(file).address).toBe('tcp://10.0.0.2:8786');
    removeSecond();
    expect(fs.existsSync(file)).toBe(false);
  });

  it.each([
    ['not JSON', 'address: x', /not JSON/],
    ['no address', JSON.stringify({ secret: secret.toString('base64') }), /no ucx:\/\/, tcp:\/\/ or inproc:\/\/ address/],
    ['an http address', JSON.stringify({ address: 'http://x:1', secret: secret.toString('base64') }), /no ucx:\/\//],
    ['no secret', JSON.stringify({ address: 'ucx://x:1' }), /no base64 secret/],
    ['a short secret', JSON.stringify({ address: 'ucx://x:1', secret: 'AAAA' }), /16 or more/],
  ])('a file with %s is refused with ERR_SCHEDULER_FILE', (_, text, message) => {
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, text);
    expect(() => readSchedulerFile(file)).toThrow(message);
    try {
      readSchedulerFile(file);
    } catch (error) {
      expect(error).toBeInstanceOf(LaunchError);
      expect((error as LaunchError).code).toBe('ERR_SCHEDULER_FILE');
    }
  });

  it('waitForSchedulerFile waits for the file to appear, and gives up with the path named', async () => {
    const file = path.join(dir, 'later.json');
    setTimeout(() => writeSchedulerFile(file, { address: 'tcp://127.0.0.1:1', secret }), 150);
    expect((await waitForSchedulerFile(file, 5_000)).address).toBe('tcp://127.0.0.1:1');
    await expect(waitForSchedulerFile(path.join(dir, 'never.json'), 100)).rejects.toThrow(/no scheduler file at .*never\.json/);
  });
});
