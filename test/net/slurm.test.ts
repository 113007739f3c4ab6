// Slurm's srun --mpi=pmix across two hosts: a throwaway cluster (slurmctld on host a, a slurmd on each
// host, no authentication, nothing outside the namespaces made here), and the 4-rank job meets through
// PMIx with no variables, as under mpirun. Skipped where slurmctld, slurmd, srun or Slurm's PMIx plugin
// are not installed (.ci/run installs them when it can).
//
// Each slurmd gets a mount namespace of its own: a sysfs of its network namespace (UCX reads its
// devices there), the cgroup hierarchy slurmd wants, and its own /tmp (Slurm's PMIx plugin keeps a
// per-step directory there, which two "nodes" on one disk would share).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { start, lastJson, explain, ROOT } from '../mpi/job.js';
import { createHosts, netnsUnavailable, onHost, removeHosts, twoHosts } from './hosts.js';

const FIXTURE = path.join(ROOT, 'test', 'net', 'fixtures', 'mpi-hosts.mjs');
const [A, B] = twoHosts('s', 215);
const DIR = `/var/tmp/node-ucx-slurm-${process.pid}`;
const CONF = path.join(DIR, 'slurm.conf');

function has(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function slurmUnavailable(): string | null {
  const netns = netnsUnavailable();
  if (netns !== null) return netns;
  for (const command of ['slurmctld', 'slurmd', 'srun', 'sinfo']) if (!has(command)) return `needs Slurm (${command} is not installed)`;
  const plugins = ['/usr/lib/x86_64-linux-gnu/slurm-wlm', '/usr/lib/slurm', '/usr/lib64/slurm'];
  if (!plugins.some((dir) => fs.existsSync(path.join(dir, 'mpi_pmix.so')))) return "needs Slurm's PMIx plugin (mpi_pmix.so)";
  if (!fs.existsSync(path.join(ROOT, 'build', 'Release', 'node_ucx_pmix.node'))) return "needs node-ucx's PMIx binding (libpmix-dev)";
  return null;
}

const unavailable = slurmUnavailable();
const daemons: ChildProcess[] = [];

function slurmConf(): string {
  return [
    'ClusterName=nucx',
    `SlurmctldHost=${A.ns}(${A.ip})`,
    'SlurmctldPort=16917',
    'SlurmdPort=16918',
    'SrunPortRange=60001-60100',
    'AuthType=auth/none',
    'CredType=cred/none',
    'SlurmUser=root',
    'SlurmdUser=root',
    `StateSaveLocation=${DIR}/state`,
    `SlurmdSpoolDir=${DIR}/spool-%n`,
    `SlurmctldPidFile=${DIR}/slurmctld.pid`,
    `SlurmdPidFile=${DIR}/slurmd-%n.pid`,
    `SlurmctldLogFile=${DIR}/slurmctld.log`,
    `SlurmdLogFile=${DIR}/slurmd-%n.log`,
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'SwitchType=switch/none',
    'MpiDefault=none',
    'SchedulerType=sched/builtin',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core',
    'ReturnToService=2',
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    'SlurmdParameters=config_overrides',
    `NodeName=${A.ns} NodeAddr=${A.ip} CPUs=2 State=UNKNOWN`,
    `NodeName=${B.ns} NodeAddr=${B.ip} CPUs=2 State=UNKNOWN`,
    `PartitionName=test Nodes=${A.ns},${B.ns} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE`,
    '',
  ].join('\n');
}

function daemon(argv: string[]): void {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SLURM_CONF: CONF } });
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
  });
  child.once('exit', (code) => {
    if (code !== 0 && code !== null) process.stderr.write(`[slurm test] ${argv.join(' ')} exited ${code}: ${errors}\n`);
  });
  daemons.push(child);
}

describe.skipIf(unavailable !== null)(`Slurm across two hosts in network namespaces${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  beforeAll(async () => {
    await createHosts([A, B]);
    fs.rmSync(DIR, { recursive: true, force: true });
    for (const sub of ['state', `spool-${A.ns}`, `spool-${B.ns}`, `tmp-${A.ns}`, `tmp-${B.ns}`, `cg-${A.ns}`, `cg-${B.ns}`])
      fs.mkdirSync(path.join(DIR, sub), { recursive: true });
    fs.writeFileSync(CONF, slurmConf());
    const [ctl, ctlArgs] = onHost(A, ['slurmctld', '-D', '-f', CONF]);
    daemon([ctl, ...ctlArgs]);
    for (const host of [A, B]) {
      // A checkout under /tmp (a CI clone, say) stays visible under the node's own /tmp: bound into it first.
      const underTmp = path.relative('/tmp', ROOT);
      const keepRoot = underTmp.startsWith('..')
        ? ''
        : `mkdir -p ${DIR}/tmp-${host.ns}/${underTmp} && mount --bind ${ROOT} ${DIR}/tmp-${host.ns}/${underTmp} && `;
      const setup =
        `hostname ${host.ns} && ${keepRoot}mount --rbind ${DIR}/tmp-${host.ns} /tmp && mount --rbind /sys/fs/cgroup ${DIR}/cg-${host.ns} ` +
        `&& mount -t sysfs sysfs /sys && mount --rbind ${DIR}/cg-${host.ns} /sys/fs/cgroup && exec slurmd -D -N ${host.ns} -f ${CONF}`;
      daemon(['nsenter', `--net=/run/netns/${host.ns}`, 'unshare', '--uts', '--mount', '--propagation', 'private', 'sh', '-c', setup]);
    }
    const deadline = Date.now() + 30_000;
    for (;;) {
      let state = '';
      try {
        state = execFileSync('ip', ['netns', 'exec', A.ns, 'sinfo', '-h', '-N', '-o', '%T'], {
          env: { ...process.env, SLURM_CONF: CONF },
          stdio: ['ignore', 'pipe', 'ignore'],
        }).toString();
      } catch {
        // slurmctld is not up yet
      }
      if (
        state
          .trim()
          .split('\n')
          .filter((s) => s === 'idle').length === 2
      )
        break;
      if (Date.now() > deadline) throw new Error(`the Slurm nodes did not come up within 30 s (sinfo: ${state.trim() || 'no answer'})`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }, 60_000);

  afterAll(async () => {
    try {
      execFileSync('ip', ['netns', 'exec', A.ns, 'scontrol', 'shutdown'], { env: { ...process.env, SLURM_CONF: CONF }, stdio: 'ignore', timeout: 5_000 });
    } catch {
      // not up
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const child of daemons) if (child.exitCode === null) child.kill('SIGKILL');
    removeHosts([A, B]);
    fs.rmSync(DIR, { recursive: true, force: true });
  });

  it("srun --mpi=pmix -N 2 -n 4: the ranks meet through Slurm's PMIx, no variables; shared memory within a node, TCP across", async () => {
    const [cmd, args] = onHost(A, ['srun', '--mpi=pmix', '-N', '2', '-n', '4', process.execPath, FIXTURE, 'check']);
    const result = await start(cmd, args, { env: { SLURM_CONF: CONF, UCX_NET_DEVICES: 'all', NODE_UCX_RANK: undefined, NODE_UCX_SIZE: undefined }, ms: 60_000 })
      .done;
    expect(result.code, explain(result)).toBe(0);
    const report = lastJson<{
      ok: boolean;
      ranks: { rank: number; host: string; via: string; transports: Record<string, { transports: string[]; errorHandling: string }> }[];
    }>(result.stdout);
    expect(report?.ok).toBe(true);
    const ranks = report!.ranks;
    expect(ranks.map((r) => r.host)).toEqual([A.ns, A.ns, B.ns, B.ns]);
    expect(ranks.every((r) => r.via === 'pmix')).toBe(true);
    expect(ranks[0]!.transports['2']).toEqual({ transports: [`tcp/${A.dev}`], errorHandling: 'peer' });
    expect(ranks[0]!.transports['1']!.errorHandling).toBe('none');
  });
});
