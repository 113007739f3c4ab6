// "Hosts" on one machine for the tests: network namespaces joined by a veth pair, each with an address of
// its own (only inside the namespaces made here) and, through the agent script, a host name of its own.
// Made in beforeAll and removed in afterAll (even after a failure); a namespace left by an earlier run
// that was killed is removed first.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export interface NetnsHost {
  ns: string;
  dev: string;
  ip: string;
}

export const AGENT = path.resolve(__dirname, 'fixtures', 'netns-agent.sh');

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

/** Why namespaces cannot be made here, or null. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces';
  try {
    ip('netns', 'list');
    execFileSync('unshare', ['--uts', 'true'], { stdio: 'ignore' });
  } catch {
    return "needs iproute2's ip with network namespace support and util-linux's unshare";
  }
  return null;
}

/** Two hosts a and b, `10.<subnet>.0.1` and `.2`, joined by a veth pair. */
export function twoHosts(tag: string, subnet: number): [NetnsHost, NetnsHost] {
  const id = process.pid % 10000;
  return [
    { ns: `nucx-${tag}a-${id}`, dev: `nu${tag}a${id}`.slice(0, 15), ip: `10.${subnet}.0.1` },
    { ns: `nucx-${tag}b-${id}`, dev: `nu${tag}b${id}`.slice(0, 15), ip: `10.${subnet}.0.2` },
  ];
}

export async function createHosts(hosts: readonly NetnsHost[]): Promise<void> {
  removeHosts(hosts);
  for (const host of hosts) ip('netns', 'add', host.ns);
  const [a, b] = hosts as [NetnsHost, NetnsHost];
  ip('link', 'add', a.dev, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.dev, 'netns', b.ns);
  for (const host of hosts) {
    ip('-n', host.ns, 'addr', 'add', `${host.ip}/24`, 'dev', host.dev);
    ip('-n', host.ns, 'link', 'set', 'lo', 'up');
    ip('-n', host.ns, 'link', 'set', host.dev, 'up');
  }
  // UCX lists only links that are up with a carrier when a context starts.
  const deadline = Date.now() + 10_000;
  while (!hosts.every((h) => ip('-n', h.ns, 'link', 'show', h.dev).includes('LOWER_UP'))) {
    if (Date.now() > deadline) throw new Error('the veth link did not come up within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function removeHosts(hosts: readonly NetnsHost[]): void {
  for (const host of hosts) {
    try {
      ip('netns', 'del', host.ns);
    } catch {
      /* not there */
    }
  }
}

/** Runs `argv` inside `host` with its own host name (the namespace's name), as the head node of a job. */
export function onHost(host: NetnsHost, argv: readonly string[]): [string, string[]] {
  return ['ip', ['netns', 'exec', host.ns, 'unshare', '--uts', 'sh', '-c', 'hostname "$0" && exec "$@"', host.ns, ...argv]];
}
