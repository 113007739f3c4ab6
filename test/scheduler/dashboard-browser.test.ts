// The dashboard in a real browser: Debian's Chromium, headless, driven by playwright-core.
// A LocalCluster with the dashboard runs tasks while the page is open; the page must show
// them (task counts, prefixes, the task stream) as they finish, without a reload, and with no
// script errors. A screenshot is left in the test's temporary folder.
//
// .ci/run installs chromium. Without /usr/bin/chromium the test is skipped, with the reason,
// except under CI (CI=true), where it must run (and so fails without a browser).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalCluster, Client } from 'node-ucx/scheduler';
import type { BrowserContext, Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const skip = !fs.existsSync(CHROMIUM) && !process.env.CI;
const reason = `${CHROMIUM} is absent (apt-get install -y chromium; .ci/run installs it, and under CI this test runs)`;
if (skip) console.warn(`[dashboard-browser] skipped: ${reason}`);

describe.skipIf(skip)(`dashboard in headless Chromium${skip ? ` [skipped: ${reason}]` : ''}`, () => {
  let cluster: LocalCluster;
  let client: Client;
  let browser: BrowserContext;
  let page: Page;
  let dir: string;
  const problems: string[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-ucx-dashboard-'));
    cluster = new LocalCluster({ workers: 2, protocol: 'inproc', dashboard: { port: 0 }, worker: { heartbeatMs: 100 } });
    client = new Client(cluster);
    const { chromium } = await import('playwright-core');
    [browser] = await Promise.all([
      chromium.launchPersistentContext(path.join(dir, 'profile'), {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 1280, height: 860 },
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      }),
      client.ready,
    ]);
    page = browser.pages()[0] ?? (await browser.newPage());
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('requestfailed', (request) => {
      if (!request.url().endsWith('/events')) problems.push(`request failed: ${request.url()}`);
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await client?.close();
    await cluster?.close();
    if (dir) fs.rmSync(path.join(dir, 'profile'), { recursive: true, force: true });
  });

  /** The text of the progress row of `prefix` ('3 / 12', maybe with ' · 1 erred'), or null. */
  const progressOf = (prefix: string): Promise<string | null> =>
    page.evaluate((p) => {
      const row = [...document.querySelectorAll<HTMLElement>('#progress .row')].find((r) => r.dataset.prefix === p);
      return row ? row.querySelector('.numbers')!.textContent : null;
    }, prefix);

  it('shows the tasks of a run as they finish, without a reload', async () => {
    await page.goto(cluster.dashboardLink!);
    await page.waitForFunction(() => document.getElementById('status')!.textContent === 'live' && Number(document.body.dataset.updates) >= 1);
    expect(await page.textContent('#n-workers')).toBe('2');
    expect(await page.textContent('#states [data-state="memory"] .numbers')).toBe('0');
    expect(await page.textContent('#address')).toBe(cluster.schedulerAddress);
    // A mark that a reload would wipe, and a record of every text the slowinc row shows.
    await page.evaluate(() => {
      const w = window as unknown as { loaded: string; seen: string[] };
      w.loaded = 'this page';
      w.seen = [];
      new MutationObserver(() => {
        const row = [...document.querySelectorAll<HTMLElement>('#progress .row')].find((r) => r.dataset.prefix === 'slowinc');
        const text = row?.querySelector('.numbers')?.textContent;
        if (text && text !== w.seen.at(-1)) w.seen.push(text);
      }).observe(document.getElementById('progress')!, { subtree: true, childList: true, characterData: true });
    });
    const updatesBefore = Number(await page.getAttribute('body', 'data-updates'));

    const slowinc = (x: number): Promise<number> => new Promise((resolve) => setTimeout(() => resolve(x + 1), 150));
    const futures = client.map(
      slowinc,
      Array.from({ length: 12 }, (_, i) => i),
    );
    await client.gather(futures);
    await page.waitForFunction(() => document.querySelector('#states [data-state="memory"] .numbers')?.textContent === '12');
    await expect.poll(() => progressOf('slowinc')).toBe('12 / 12');

    const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
    const done = seen.map((text) => Number(text.split(' / ')[0]));
    expect(seen.at(-1)).toBe('12 / 12');
    expect(
      done.some((n) => n > 0 && n < 12),
      `the row went ${seen.join(' → ')}`,
    ).toBe(true); // seen part-way
    expect(done).toEqual([...done].sort((a, b) => a - b));
    expect(await page.textContent('#n-finished')).toBe('12');
    // The task stream drew the twelve, and its legend names the prefix.
    await expect.poll(() => page.getAttribute('#stream', 'data-drawn')).toBe('12');
    expect(await page.getAttribute('#stream', 'data-rows')).toBe('2');
    expect(await page.textContent('#legend [data-prefix="slowinc"]')).toBe('slowinc12');
    expect(await page.evaluate(() => (window as unknown as { loaded: string }).loaded)).toBe('this page');
    expect(Number(await page.getAttribute('body', 'data-updates'))).toBeGreaterThan(updatesBefore + 2);
  });

  it('shows a second prefix, errors, and worker memory, then leaves a screenshot', async () => {
    const double = (x: number): Promise<number> => new Promise((resolve) => setTimeout(() => resolve(2 * x), 40));
    const explode = (): never => {
      throw new Error('on purpose');
    };
    const futures = client.map(
      double,
      Array.from({ length: 8 }, (_, i) => i),
    );
    const failed = client.submit(explode);
    await client.gather(futures);
    await failed.exception();
    await expect.poll(() => progressOf('double')).toBe('8 / 8');
    await expect.poll(() => progressOf('explode')).toBe('0 / 1 · 1 erred');
    await page.waitForFunction(() => document.querySelector('#states [data-state="erred"] .numbers')?.textContent === '1');
    expect(await page.textContent('#n-erred')).toBe('1');
    expect(await page.textContent('#legend')).toContain('double');
    // Rows stay in the order the prefixes came: slowinc, double, explode.
    expect(await page.$$eval('#progress .row', (rows) => rows.map((r) => (r as HTMLElement).dataset.prefix))).toEqual(['slowinc', 'double', 'explode']);
    // A bar per worker, with the memory its heartbeats report.
    await page.waitForFunction(
      () => document.querySelectorAll('#memory .row').length === 2 && !document.querySelector('#memory .numbers')!.textContent!.startsWith('–'),
    );
    expect(await page.$$eval('#workers tbody tr', (rows) => rows.length)).toBe(2);
    expect((await page.textContent('#workers tbody'))!).toContain('running');

    const shot = path.join(dir, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(fs.statSync(shot).size).toBeGreaterThan(10_000);
    console.log(`[dashboard-browser] screenshot: ${shot}`);
    expect(problems).toEqual([]);
  });
});
