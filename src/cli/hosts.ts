// ucx-run's host lists: `--hosts h1:2,h2:2`, `--hostfile FILE` (Open MPI's format: `host slots=N`,
// `host:N` or `host`, `#` comments), where the ranks go (hosts filled in order, like mpirun's default
// --map-by slot), and how a remote command is given to the launcher agent (ssh joins its arguments into
// one line for the remote shell, so each is quoted; `ip netns exec` and the like take them as they are).
// Pure: strings in, plans out (test/unit/ucx-run-hosts.test.ts).
import os from 'node:os';
import path from 'node:path';

export interface HostSlots {
  host: string;
  slots: number;
}

const HOST = /^([A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])$/;

function badHost(what: string, entry: string): Error {
  return new Error(`${what}: '${entry}' is not a host name with an optional slot count (host, host:N or host slots=N)`);
}

function slotsOf(raw: string, what: string, entry: string): number {
  const slots = Number(raw);
  if (!Number.isInteger(slots) || slots < 1 || slots > 4096) throw new Error(`${what}: '${entry}' must give 1 ... 4096 slots`);
  return slots;
}

/** `h1:2,h2,h3:4` → hosts with slots (a host without a count has 1). A host named twice adds up. */
export function parseHosts(list: string): HostSlots[] {
  const hosts: HostSlots[] = [];
  for (const entry of list
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')) {
    const match = /^(.*?)(?::(\d+))?$/.exec(entry)!;
    const host = match[1]!;
    if (host === '' || !HOST.test(host)) throw badHost('--hosts', entry);
    add(hosts, host, match[2] === undefined ? 1 : slotsOf(match[2], '--hosts', entry));
  }
  if (hosts.length === 0) throw new Error('--hosts names no host');
  return hosts;
}

/** A hostfile: one host a line (`host`, `host:N`, `host slots=N [max_slots=M]`), `#` starts a comment. */
export function parseHostfile(text: string, file = 'hostfile'): HostSlots[] {
  const hosts: HostSlots[] = [];
  for (const [index, rawLine] of text.split('\n').entries()) {
    const line = rawLine.replace(/#.*/, '').trim();
    if (line === '') continue;
    const where = `${file}:${index + 1}`;
    const [first, ...rest] = line.split(/\s+/);
    let host = first!;
    let slots = 1;
    const colon = /^(.*):(\d+)$/.exec(host);
    if (colon !== null) {
      host = colon[1]!;
      slots = slotsOf(colon[2]!, where, line);
    }
    if (!HOST.test(host)) throw badHost(where, line);
    for (const option of rest) {
      const pair = /^(slots|max_slots|max-slots)=(\d+)$/.exec(option);
      if (pair === null) throw new Error(`${where}: unknown '${option}' (expected slots=N)`);
      if (pair[1] === 'slots') slots = slotsOf(pair[2]!, where, line);
    }
    add(hosts, host, slots);
  }
  if (hosts.length === 0) throw new Error(`${file} names no host`);
  return hosts;
}

function add(hosts: HostSlots[], host: string, slots: number): void {
  const known = hosts.find((h) => h.host === host);
  if (known !== undefined) known.slots += slots;
  else hosts.push({ host, slots });
}

export interface Placement {
  host: string;
  ranks: number[];
}

/**
 * Which ranks run where: hosts are filled in order, each up to its slots. More ranks than slots is an
 * error unless `oversubscribe`, which deals the rest out round-robin.
 */
export function placeRanks(hosts: readonly HostSlots[], size: number, oversubscribe: boolean): Placement[] {
  const total = hosts.reduce((sum, h) => sum + h.slots, 0);
  if (size > total && !oversubscribe) {
    throw new Error(`${size} ranks do not fit in the ${total} slots of ${hosts.map((h) => `${h.host}:${h.slots}`).join(',')} (add slots, or --oversubscribe)`);
  }
  const placed = hosts.map((h) => ({ host: h.host, ranks: [] as number[] }));
  let rank = 0;
  for (const [i, h] of hosts.entries()) for (let s = 0; s < h.slots && rank < size; s++) placed[i]!.ranks.push(rank++);
  for (let i = 0; rank < size; i = (i + 1) % hosts.length) placed[i]!.ranks.push(rank++);
  return placed.filter((p) => p.ranks.length > 0);
}

/** Whether `host` is this machine (its ranks are started directly, without the agent). */
export function isLocalHost(host: string): boolean {
  const name = os.hostname();
  return host === 'localhost' || host === '127.0.0.1' || host === '::1' || host === name || host === name.split('.')[0];
}

/** Quotes an argument for a POSIX shell. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * The agent's command line for a host: the agent's words, the host, then the remote command: quoted for
 * the remote shell when the agent is rsh or ssh (they join their arguments), as they are otherwise.
 */
export function agentCommand(agent: string, host: string, remote: readonly string[]): string[] {
  const words = agent
    .trim()
    .split(/\s+/)
    .filter((w) => w !== '');
  if (words.length === 0) throw new Error('--launcher-agent is empty');
  const program = path.basename(words[0]!);
  const shell = /^(ssh|rsh|autossh)$/.test(program);
  return [...words, host, ...(shell ? remote.map(shellQuote) : remote)];
}
