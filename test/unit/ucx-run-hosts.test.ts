// ucx-run's host lists (src/cli/hosts.ts): --hosts and hostfile parsing, rank placement, and the
// agent's command line (quoted for ssh's remote shell, as it is for ip netns exec and the like).
import { describe, it, expect } from 'vitest';
import os from 'node:os';
import { agentCommand, isLocalHost, parseHostfile, parseHosts, placeRanks, shellQuote } from '../../src/cli/hosts.js';

describe('ucx-run hosts', () => {
  it('parses --hosts: counts, default 1 slot, a host named twice adds up', () => {
    expect(parseHosts('a:2,b:2')).toEqual([
      { host: 'a', slots: 2 },
      { host: 'b', slots: 2 },
    ]);
    expect(parseHosts('a, b:3 ,a')).toEqual([
      { host: 'a', slots: 2 },
      { host: 'b', slots: 3 },
    ]);
    expect(parseHosts('10.0.0.1:4')).toEqual([{ host: '10.0.0.1', slots: 4 }]);
    for (const bad of ['', ',', 'a:0', 'a:x', 'a b', 'a:99999', 'a;rm -rf /']) expect(() => parseHosts(bad), bad).toThrow();
  });

  it("parses a hostfile in Open MPI's format", () => {
    const text = '# cluster\nnode1 slots=4 max_slots=8\nnode2:2\n\nnode3   # one slot\nnode1 slots=1\n';
    expect(parseHostfile(text)).toEqual([
      { host: 'node1', slots: 5 },
      { host: 'node2', slots: 2 },
      { host: 'node3', slots: 1 },
    ]);
    expect(() => parseHostfile('node1 cpus=4', 'hf')).toThrow(/hf:1: unknown 'cpus=4'/);
    expect(() => parseHostfile('# nothing\n', 'hf')).toThrow(/hf names no host/);
  });

  it('places ranks host by host, up to the slots; more ranks need --oversubscribe (round-robin)', () => {
    const hosts = parseHosts('a:2,b:2');
    expect(placeRanks(hosts, 4, false)).toEqual([
      { host: 'a', ranks: [0, 1] },
      { host: 'b', ranks: [2, 3] },
    ]);
    expect(placeRanks(hosts, 3, false)).toEqual([
      { host: 'a', ranks: [0, 1] },
      { host: 'b', ranks: [2] },
    ]);
    expect(placeRanks(hosts, 1, false)).toEqual([{ host: 'a', ranks: [0] }]);
    expect(() => placeRanks(hosts, 5, false)).toThrow(/5 ranks do not fit in the 4 slots of a:2,b:2/);
    expect(placeRanks(hosts, 7, true)).toEqual([
      { host: 'a', ranks: [0, 1, 4, 6] },
      { host: 'b', ranks: [2, 3, 5] },
    ]);
  });

  it('quotes the remote command for ssh and rsh, and leaves it as it is for other agents', () => {
    const remote = ['/usr/bin/node', '/opt/my dir/ucx-run.js', '--agent'];
    expect(agentCommand('ssh -o BatchMode=yes', 'h1', remote)).toEqual([
      'ssh',
      '-o',
      'BatchMode=yes',
      'h1',
      '/usr/bin/node',
      "'/opt/my dir/ucx-run.js'",
      '--agent',
    ]);
    expect(agentCommand('/usr/bin/rsh', 'h1', remote)[3]).toBe("'/opt/my dir/ucx-run.js'");
    expect(agentCommand('ip netns exec', 'ns1', remote)).toEqual(['ip', 'netns', 'exec', 'ns1', ...remote]);
    expect(() => agentCommand('  ', 'h', remote)).toThrow(/empty/);
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });

  it('knows this machine by its names', () => {
    expect(isLocalHost('localhost')).toBe(true);
    expect(isLocalHost(os.hostname())).toBe(true);
    expect(isLocalHost('surely-not-this-host.example')).toBe(false);
  });
});
