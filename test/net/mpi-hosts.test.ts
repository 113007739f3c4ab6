// MPI jobs across hosts: two network namespaces of this machine, each a host with its own address and host
// name, joined by a veth link (test/net/hosts.ts). The head of the job runs on host a; host b is reached
// through a launcher agent (test/net/fixtures/netns-agent.sh, ip netns exec), as ssh reaches a real host.
// No variables are set for the rendezvous: ucx-run --hosts and mpirun (PMIx) find the way themselves.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { start, lastJson, explain, UCX_RUN, ROOT, type Job } from '../mpi/job.js';
import { AGENT, createHosts, ip, netnsUnavailable, onHost, removeHosts, twoHosts } from './hosts.js';

const FIXTURE = path.join(ROOT, 'test', 'net', 'fixtures', 'mpi-hosts.mjs');
const NODE = process.execPath;
const [A, B] = twoHosts('h', 214);
const unavailable = netnsUnavailable();
// The namespaces' devices are all UCX may use (the suite's default is loopback only).
const ENV = { UCX_NET_DEVICES: 'all', NODE_UCX_RANK: undefined, NODE_UCX_SIZE: undefined, NODE_UCX_RENDEZVOUS: undefined };

function hasMpirun(): boolean {
  try {
    execFileSync('mpirun', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const pmixBuilt = fs.existsSync(path.join(ROOT, 'build', 'Release', 'node_ucx_pmix.node'));

interface RankReport {
  rank: number;
  host: string;
  via: string;
  halfRttUs: number | null;
  transports: Record<string, { transports: string[]; errorHandling: string }>;
}

/** Two ranks a host: shared memory ('none') within a host, TCP over the veth link ('peer') across. */
function checkJob(result: { stdout: string }, via: string): RankReport[] {
  const report = lastJson<{ ok: boolean; size: number; ranks: RankReport[] }>(result.stdout);
  expect(report?.ok).toBe(true);
  const ranks = report!.ranks;
  expect(ranks.map((r) => r.host)).toEqual([A.ns, A.ns, B.ns, B.ns]);
  for (const r of ranks) {
    expect(r.via).toBe(via);
    for (const [peer, info] of Object.entries(r.transports)) {
      const sameHost = ranks[Number(peer)]!.host === r.host;
      expect(info.errorHandling, `rank ${r.rank} -> ${peer}`).toBe(sameHost ? 'none' : 'peer');
      if (sameHost)
        expect(
          info.transports.some((t) => /^(posix|sysv)\//.test(t)),
          `rank ${r.rank} -> ${peer}: ${info.transports}`,
        ).toBe(true);
      else expect(info.transports, `rank ${r.rank} -> ${peer}`).toEqual([`tcp/${r.host === A.ns ? A.dev : B.dev}`]);
    }
  }
  expect(ranks[0]!.halfRttUs).toBeGreaterThan(0);
  console.log(
    `${via}: 8 B ping-pong rank 0 (${A.ns}) <-> rank 2 (${B.ns}) over the veth link, event mode: ${ranks[0]!.halfRttUs!.toFixed(1)} us half round trip`,
  );
  return ranks;
}

async function pids(job: Job, size: number): Promise<{ pid: number; host: string }[]> {
  const found: { pid: number; host: string }[] = [];
  for (let rank = 0; rank < size; rank++) found.push(await job.line<{ rank?: number; pid: number; host: string }>((v) => v.rank === rank));
  return found;
}

function cut(host: typeof A, down: boolean): void {
  ip('-n', host.ns, 'link', 'set', host.dev, down ? 'down' : 'up');
}

describe.skipIf(unavailable !== null)(`MPI across two hosts in network namespaces${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  beforeAll(async () => {
    await createHosts([A, B]);
  });

  afterEach(async () => {
    // A test that cut the link puts it back up.
    if (!ip('-n', B.ns, 'link', 'show', B.dev).includes('LOWER_UP')) {
      cut(B, false);
      const deadline = Date.now() + 5_000;
      while (!ip('-n', B.ns, 'link', 'show', B.dev).includes('LOWER_UP') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    }
  });

  afterAll(() => removeHosts([A, B]));

  it('ucx-run --hosts a:2,b:2 with an ip netns exec agent: 4 ranks meet with no variables; shared memory within a host, TCP across', async () => {
    const [cmd, args] = onHost(A, [NODE, UCX_RUN, '--hosts', `${A.ns}:2,${B.ns}:2`, '--launcher-agent', AGENT, 'node', FIXTURE, 'check']);
    const result = await start(cmd, args, { env: ENV, ms: 60_000 }).done;
    expect(result.code, explain(result)).toBe(0);
    checkJob(result, 'tcp');
  });

  it.skipIf(!hasMpirun() || !pmixBuilt)("Open MPI's mpirun --host a:2,b:2 with the same agent: the ranks meet through PMIx, no variables", async () => {
    const [cmd, args] = onHost(A, ['mpirun', '--allow-run-as-root', '--host', `${A.ns}:2,${B.ns}:2`, '--mca', 'plm_rsh_agent', AGENT, NODE, FIXTURE, 'check']);
    const result = await start(cmd, args, { env: ENV, ms: 60_000 }).done;
    expect(result.code, explain(result)).toBe(0);
    checkJob(result, 'pmix');
  });

  it('ranks started by hand with NODE_UCX_RANK and a shared rendezvous file meet across hosts (rank 0 advertises a routable address)', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'node-ucx-hosts-')), 'rv.json');
    const jobs = [A, A, B, B].map((host, rank) => {
      const [cmd, args] = onHost(host, [NODE, FIXTURE, 'check', '200']);
      return start(cmd, args, {
        env: { ...ENV, NODE_UCX_RANK: String(rank), NODE_UCX_SIZE: '4', NODE_UCX_RENDEZVOUS: `file:${file}`, NODE_UCX_BOOTSTRAP_TIMEOUT_MS: '20000' },
        ms: 40_000,
      });
    });
    const results = await Promise.all(jobs.map((j) => j.done));
    for (const result of results) expect(result.code, explain(result)).toBe(0);
    checkJob(results[0]!, 'file');
    const written = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { url: string }) : null;
    expect(written, 'rank 0 removes the file at finalize').toBeNull();
  });

  it("cutting host b's link mid-job ends the ucx-run job within seconds, naming a rank on b", async () => {
    const [cmd, args] = onHost(A, [NODE, UCX_RUN, '--hosts', `${A.ns}:2,${B.ns}:2`, '--launcher-agent', AGENT, 'node', FIXTURE, 'wait']);
    const job = start(cmd, args, { env: ENV, ms: 40_000 });
    const ranks = await pids(job, 4);
    const cutAt = Date.now();
    cut(B, true);
    const result = await job.done;
    const took = Date.now() - cutAt;
    expect(result.code, explain(result)).toBe(1);
    // Two ends of one race, both right: the store misses b's heartbeats for the liveness timeout and names a
    // rank there, or (the same timeout on the other side) b's ranks miss the store's, say so and exit 1, and
    // their agent, whose pipe to ucx-run does not cross the cut link here as ssh's would, reports the exit.
    const lost = new RegExp(
      `ucx-run: rank [23] \\(pid (${ranks[2]!.pid}|${ranks[3]!.pid}) on ${B.ns}, ${B.ip.replace(/\./g, '\\.')}\\) has not answered for \\d+ ms: it is stopped \\(SIGSTOP\\), hung, or its host or network link is gone; terminating the other ranks`,
    );
    const silent = new RegExp(
      `rank [23]: the rendezvous store at tcp://${A.ip.replace(/\./g, '\\.')}:\\d+ \\(ucx-run on ${A.ns}\\) has not answered for \\d+ ms[\\s\\S]*ucx-run: rank [23] on ${B.ns} exited with code 1; terminating the other ranks`,
    );
    expect(lost.test(result.stderr) || silent.test(result.stderr), result.stderr).toBe(true);
    console.log(`ucx-run: lost host detected and the job ended ${took} ms after the cut (liveness timeout 4000 ms)`);
    expect(took).toBeLessThan(12_000);
    // The ranks on b are gone too (told by their agent, or on their own when the store fell silent).
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 8_000;
    while (ranks.some((r) => alive(r.pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(
      ranks.filter((r) => alive(r.pid)),
      'ranks still running after the job ended',
    ).toEqual([]);
  });

  it.skipIf(!hasMpirun() || !pmixBuilt)(
    'under mpirun a cut link makes the ranks on a exit naming a rank on b; with TCP timeouts set, mpirun ends too',
    async () => {
      // mpirun waits for a lost daemon until TCP gives up on it: on an idle connection after its keepalive
      // (300 s + 9 x 20 s by default in Open MPI 4.1), on one with data in flight (the kill orders it sends once
      // the ranks on a have exited) after net.ipv4.tcp_retries2 retransmissions (15: ~15 min). docs/mpi.md
      // gives both settings; here they are set in host a's namespace and on mpirun's command line.
      for (const host of [A, B]) execFileSync('ip', ['netns', 'exec', host.ns, 'sysctl', '-qw', 'net.ipv4.tcp_retries2=3']);
      const keepalive = ['--mca', 'oob_tcp_keepalive_time', '1', '--mca', 'oob_tcp_keepalive_intvl', '1', '--mca', 'oob_tcp_keepalive_probes', '3'];
      const [cmd, args] = onHost(A, [
        'mpirun',
        '--allow-run-as-root',
        ...keepalive,
        '--host',
        `${A.ns}:2,${B.ns}:2`,
        '--mca',
        'plm_rsh_agent',
        AGENT,
        NODE,
        FIXTURE,
        'wait',
      ]);
      const job = start(cmd, args, { env: { ...ENV, NODE_UCX_LIVENESS_TIMEOUT_MS: '2000' }, ms: 40_000 });
      await pids(job, 4);
      const cutAt = Date.now();
      cut(B, true);
      const exit = await job.exited;
      const took = Date.now() - cutAt;
      // Host b's daemon still holds mpirun's output open until its own TCP gives up.
      const result = await job.done;
      expect(exit.code, explain(result)).not.toBe(0);
      expect(result.stderr).toMatch(
        new RegExp(
          `rank [01]: rank [23] \\(pid \\d+ on ${B.ns}, ${B.ip.replace(/\./g, '\\.')}\\) has not answered for \\d+ ms|ORTE has lost communication with a remote daemon`,
        ),
      );
      console.log(`mpirun: the job ended ${took} ms after the cut`);
      expect(took).toBeLessThan(25_000);
    },
  );
});
