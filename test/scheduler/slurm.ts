// A Slurm cluster of one node for the tests: slurmctld and slurmd (Debian's slurm-wlm 22.05) started from a
// configuration in a temporary directory, on free ports, with auth/none and cred/none (no munged to run),
// proctrack/pgid and task/none (no cgroups), and stopped afterwards. srun then launches real job steps
// (SLURM_PROCID, SLURM_NTASKS, SLURM_JOB_ID, ... set by slurmstepd, not by the test).
//
// It needs root (slurmd runs the steps' processes as the submitting user and must be able to) and the
// slurmctld, slurmd, srun and sinfo programs; localSlurmUnavailable() says why not when it cannot run.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

function has(program: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why a local Slurm cannot be started here (null: it can). */
export function localSlurmUnavailable(): string | null {
  const missing = ['slurmctld', 'slurmd', 'srun', 'sinfo'].filter((p) => !has(p));
  if (missing.length > 0) return `no ${missing.join(', ')} (apt-get install slurmctld slurmd slurm-client)`;
  if (process.getuid?.() !== 0) return 'slurmd must run as root';
  return null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export interface LocalSlurm {
  /** The environment srun and sinfo need (SLURM_CONF). */
  env: Record<string, string>;
  dir: string;
  stop(): Promise<void>;
}

/** Starts slurmctld and slurmd and waits until the node is idle (or throws, with their logs). */
export async function startLocalSlurm(): Promise<LocalSlurm> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-ucx-slurm-'));
  const host = os.hostname().split('.')[0]!;
  const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
  for (const sub of ['state', 'spool']) fs.mkdirSync(path.join(dir, sub));
  const conf = path.join(dir, 'slurm.conf');
  fs.writeFileSync(
    conf,
    [
      'ClusterName=nodeucxtest',
      `SlurmctldHost=${host}`,
      'AuthType=auth/none',
      'CredType=cred/none',
      'SlurmUser=root',
      'SlurmdUser=root',
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${slurmdPort}`,
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool`,
      `SlurmctldPidFile=${dir}/slurmctld.pid`,
      `SlurmdPidFile=${dir}/slurmd.pid`,
      `SlurmctldLogFile=${dir}/slurmctld.log`,
      `SlurmdLogFile=${dir}/slurmd.log`,
      'ProctrackType=proctrack/pgid',
      'TaskPlugin=task/none',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_Core',
      'SchedulerType=sched/builtin',
      'ReturnToService=2',
      'MpiDefault=none',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      `NodeName=${host} CPUs=${os.availableParallelism()} State=UNKNOWN`,
      `PartitionName=test Nodes=${host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES`,
      '',
    ].join('\n'),
  );
  const env = { SLURM_CONF: conf };
  const daemons: ChildProcess[] = [
    spawn('slurmctld', ['-D', '-i', '-f', conf], { stdio: 'ignore', env: { ...process.env, ...env } }),
    spawn('slurmd', ['-D', '-f', conf, '-N', host], { stdio: 'ignore', env: { ...process.env, ...env } }),
  ];
  const stop = async (): Promise<void> => {
    await Promise.all(
      daemons.map(
        (d) =>
          new Promise<void>((resolve) => {
            if (d.exitCode !== null || d.signalCode !== null) return resolve();
            const timer = setTimeout(() => d.kill('SIGKILL'), 5_000);
            d.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            d.kill('SIGTERM');
          }),
      ),
    );
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    let state = '';
    try {
      state = execFileSync('sinfo', ['-h', '-o', '%t'], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 5_000 }).trim();
    } catch {
      // slurmctld not up yet
    }
    if (state === 'idle') return { env, dir, stop };
    if (Date.now() > deadline || daemons.some((d) => d.exitCode !== null)) {
      const logs = ['slurmctld.log', 'slurmd.log']
        .map((f) => {
          try {
            return `--- ${f}\n${fs.readFileSync(path.join(dir, f), 'utf8').split('\n').slice(-15).join('\n')}`;
          } catch {
            return `--- ${f}: none`;
          }
        })
        .join('\n');
      await stop();
      throw new Error(`the local Slurm did not come up (node state '${state}')\n${logs}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
