// progress(futures): lines on a stream that is not a terminal, a bar redrawn in place on one.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { PassThrough } from 'node:stream';
import { LocalCluster, Client, progress, type Future } from 'node-ucx/scheduler';

function capture(tty: boolean, columns = 60): { stream: PassThrough & { isTTY?: boolean; columns?: number }; text: () => string } {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  if (tty) {
    stream.isTTY = true;
    stream.columns = columns;
  }
  let text = '';
  stream.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
  });
  return { stream, text: () => text };
}

const percent = (line: string): number => Number(/(\d+)% \|/.exec(line)![1]);

describe('progress()', () => {
  let cluster: LocalCluster;
  let client: Client;
  const sleepy = (ms: number): Promise<number> => new Promise((resolve) => setTimeout(() => resolve(ms), ms));
  const fail = (why: string): never => {
    throw new Error(why);
  };

  beforeAll(async () => {
    cluster = new LocalCluster({ workers: 2, protocol: 'inproc' });
    client = new Client(cluster);
    await client.ready;
  });

  afterAll(async () => {
    await client?.close();
    await cluster?.close();
  });

  it('writes a line now and then on a stream that is not a TTY, and resolves when all have settled', async () => {
    const { stream, text } = capture(false);
    const futures: Future[] = client.map(
      sleepy,
      Array.from({ length: 24 }, (_, i) => 10 + (i % 4) * 10),
    );
    futures.push(client.submit(fail, 'on purpose'));
    const result = await progress(futures, { stream, intervalMs: 40 });
    expect(result).toMatchObject({ total: 25, finished: 24, erred: 1, cancelled: 0 });
    expect(futures.every((f) => f.done)).toBe(true);
    const out = text();
    expect(out).not.toContain('\r');
    expect(out).not.toContain('\x1b');
    expect(out.endsWith('\n')).toBe(true);
    const lines = out.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3); // the start, at least one on the way, the end
    expect(lines[0]).toMatch(/^\[ +\] +0% \| 0\/25 \| \d+\.\ds$/);
    expect(lines.at(-1)).toMatch(/^\[#+\] 100% \| 25\/25 \| 1 erred \| \d+\.\ds$/);
    // Only changes make lines, and they only go up.
    const values = lines.map(percent);
    expect(values).toEqual([...values].sort((a, b) => a - b));
    for (let i = 1; i < lines.length - 1; i++) expect(lines[i]!.replace(/\| [\d.]+s$/, '')).not.toBe(lines[i - 1]!.replace(/\| [\d.]+s$/, ''));
  });

  it('redraws one line in place on a TTY, within its width, and ends it with a line feed', async () => {
    const { stream, text } = capture(true, 60);
    const futures = client.map(
      sleepy,
      Array.from({ length: 16 }, (_, i) => 20 + i),
    );
    const result = await progress(futures, { stream, intervalMs: 15, label: 'sleepy' });
    expect(result).toMatchObject({ total: 16, finished: 16, erred: 0 });
    const out = text();
    expect(out.startsWith('\r')).toBe(true);
    expect(out.endsWith('\n')).toBe(true);
    expect(out.indexOf('\n')).toBe(out.length - 1); // one line, redrawn
    const frames = out
      .slice(0, -1)
      .split('\r')
      .slice(1)
      .map((f) => f.replace('\x1b[K', ''));
    expect(frames.length).toBeGreaterThan(2);
    for (const frame of frames) {
      expect(frame.length).toBeLessThanOrEqual(60);
      expect(frame.startsWith('sleepy [')).toBe(true);
    }
    expect(out.split('\x1b[K').length - 1).toBe(frames.length); // each frame clears what the last left
    expect(frames.at(-1)).toMatch(/^sleepy \[#+\] 100% \| 16\/16 \| \d+\.\ds$/);
    expect(frames.map(percent)).toEqual(frames.map(percent).sort((a, b) => a - b));
  });

  it('takes one future, an object of them, or none; counts cancelled ones; checks its arguments', async () => {
    const one = capture(false);
    await expect(progress(client.submit(sleepy, 5), { stream: one.stream })).resolves.toMatchObject({ total: 1, finished: 1 });
    expect(one.text().trimEnd().split('\n').at(-1)).toMatch(/100% \| 1\/1/);

    const some = capture(false);
    const byName = { a: client.submit(sleepy, 6), b: client.submit(fail, 'b') };
    await expect(progress(byName, { stream: some.stream })).resolves.toMatchObject({ total: 2, finished: 1, erred: 1 });

    const none = capture(false);
    await expect(progress([], { stream: none.stream })).resolves.toMatchObject({ total: 0 });
    expect(none.text().trimEnd().split('\n').at(-1)).toMatch(/100% \| 0\/0/);

    const cancelled = capture(false);
    const doomed = client.submit(sleepy, 5_000);
    const watching = progress([doomed], { stream: cancelled.stream });
    await doomed.cancel();
    await expect(watching).resolves.toMatchObject({ total: 1, cancelled: 1 });
    expect(cancelled.text()).toContain('1 cancelled');

    await expect(progress([1 as unknown as Future])).rejects.toThrow(TypeError);
    await expect(progress(42 as unknown as Future)).rejects.toThrow(TypeError);
    await expect(progress([], { stream: {} as NodeJS.WritableStream })).rejects.toThrow(TypeError);
    await expect(progress([], { intervalMs: 0 })).rejects.toThrow(RangeError);
  });
});
