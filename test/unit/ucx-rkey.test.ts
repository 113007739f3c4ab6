// The remote-key validator (src/core/ucx-rkey.ts) against real keys and endpoint descriptions of this
// UCX (fixtures/ucx-blobs.json) and mutations of them: each either passes or is UCXError
// UCS_ERR_INVALID_PARAM, never any other throw. A fake HostProbe stands in for /proc and stat(2).
import { describe, it, expect } from 'vitest';
import { checkRemoteKey, parseRkey, endpointMdComponents, rememberOwnKey, forgetOwnKey, type RemoteKeyCheck } from '../../src/core/ucx-rkey.js';
import type { HostProbe } from '../../src/core/ucx-host.js';
import { UCXError } from '../../src/util/errors.js';
import { prng, mutate } from '../fixtures/mutate.mjs';
import blobs from './fixtures/ucx-blobs.json';

interface CaptureKey {
  target: { length: number; allocator?: string };
  base: string;
  length: number;
  envelope: string;
}
interface Capture {
  name: string;
  info: string;
  keys: CaptureKey[];
}

const keys = (blobs as Capture[]).flatMap((c) =>
  c.keys.map((k) => {
    const envelope = Buffer.from(k.envelope, 'hex');
    return {
      name: `${c.name} ${k.target.allocator ?? 'node'}`,
      info: c.info,
      ucxKey: envelope.subarray(32),
      base: BigInt(k.base),
      length: BigInt(k.length),
      memoryType: envelope.readUInt16LE(6),
    };
  }),
);

/** Every System V segment and posix file exists, is as large as the region, is UCX's, and belongs to another process. */
const probe: HostProbe = {
  pid: 1000,
  sysvSegment: (shmid) => (shmid >= 0 ? { size: 65536, creatorPid: 2000, attachable: true } : null),
  fileSize: () => 65536,
  onHugetlbfs: () => false,
  fdTarget: () => '/dev/shm/ucx_shm_posix_2a (deleted)',
};

function checkOf(k: (typeof keys)[number], extra: Partial<RemoteKeyCheck> = {}): RemoteKeyCheck {
  return { memoryType: k.memoryType, base: k.base, length: k.length, endpointInfo: k.info, probe, ...extra };
}

function outcome(ucxKey: Uint8Array, check: RemoteKeyCheck): 'ok' | 'refused' {
  try {
    checkRemoteKey(ucxKey, check);
    return 'ok';
  } catch (error) {
    if (error instanceof UCXError && error.code === 'UCS_ERR_INVALID_PARAM' && error.status === -5) return 'refused';
    throw error;
  }
}

function refusal(ucxKey: Uint8Array, check: RemoteKeyCheck): string {
  try {
    checkRemoteKey(ucxKey, check);
  } catch (error) {
    expect(error).toBeInstanceOf(UCXError);
    expect((error as UCXError).code).toBe('UCS_ERR_INVALID_PARAM');
    return (error as Error).message;
  }
  throw new Error('accepted');
}

const find = (name: string): (typeof keys)[number] => keys.find((k) => k.name === name)!;
const DEFAULT_INFO = find('default node').info;

describe('endpointMdComponents', () => {
  it('maps the remote md of each lane to the component UCX unpacks it with', () => {
    expect([...endpointMdComponents(DEFAULT_INFO)]).toEqual([
      [2, 'sysv'],
      [3, 'posix'],
      [4, 'cma'],
    ]);
    expect([...endpointMdComponents(find('tcp node').info)]).toEqual([[0, 'tcp']]);
    // The connection manager's lane has no memory domain.
    expect([...endpointMdComponents('#                 lane[0]: cm tcp\n' + find('tcp node').info.replace('lane[0]', 'lane[1]'))]).toEqual([[0, 'tcp']]);
  });

  it('trusts no text that lists a lane twice (a forged line inside the peer name)', () => {
    expect(() => endpointMdComponents(`${DEFAULT_INFO}\n${DEFAULT_INFO}`)).toThrow(/lists a lane twice/);
  });
});

describe('checkRemoteKey: real keys', () => {
  it.each(keys.map((k) => [k.name, k] as const))('accepts the %s key and hands UCX only the parts its lanes use', (_name, k) => {
    const checked = checkRemoteKey(k.ucxKey, checkOf(k));
    const lanes = endpointMdComponents(k.info);
    const parts = parseRkey(checked).parts;
    expect(parts.every((p) => lanes.has(p.mdIndex))).toBe(true);
    expect(parts.map((p) => p.mdIndex)).toEqual(
      parseRkey(k.ucxKey)
        .parts.filter((p) => lanes.has(p.mdIndex))
        .map((p) => p.mdIndex),
    );
  });

  it('reads what UCX packed: a 64-bit md map, the memory type, and a sized part per md', () => {
    const host = parseRkey(find('default node').ucxKey);
    expect(host).toMatchObject({ memoryType: 0 });
    expect(host.parts.map((p) => [p.mdIndex, p.bytes.length])).toEqual([
      [0, 0],
      [1, 0],
      [4, 0],
    ]); // self, tcp, cma
    const sysv = parseRkey(find('default ucx').ucxKey);
    expect(sysv.parts.map((p) => [p.mdIndex, p.bytes.length])).toEqual([
      [0, 0],
      [1, 0],
      [2, 12],
      [4, 0],
    ]);
    const posix = parseRkey(find('posix-tcp ucx').ucxKey);
    expect(posix.parts.map((p) => [p.mdIndex, p.bytes.length])).toEqual([
      [0, 0],
      [1, 24],
    ]);
    const dir = parseRkey(find('posix-dir ucx').ucxKey).parts[1]!.bytes;
    expect(Buffer.from(dir.subarray(24)).toString('latin1')).toBe('/tmp\0');
    // The node-Buffer key over shared memory keeps only cma's part: md 4.
    expect(parseRkey(checkRemoteKey(find('default node').ucxKey, checkOf(find('default node')))).parts.map((p) => p.mdIndex)).toEqual([4]);
  });

  it('refuses every truncation and any trailing byte', () => {
    for (const k of keys) {
      for (let length = 0; length < k.ucxKey.length; length++) expect(outcome(k.ucxKey.subarray(0, length), checkOf(k))).toBe('refused');
      expect(outcome(Buffer.concat([k.ucxKey, Buffer.from([0])]), checkOf(k))).toBe('refused');
    }
  });
});

describe('checkRemoteKey: what UCX 1.13 would overrun, misread or map wrongly', () => {
  const sysv = find('default ucx');
  const posix = find('posix-tcp ucx');

  it("memory types: beyond UCS_MEMORY_TYPE_LAST, or not the envelope's", () => {
    const bad = Buffer.from(sysv.ucxKey);
    bad[8] = 5;
    expect(refusal(bad, checkOf(sysv))).toMatch(/memory type 5/);
    bad[8] = 1;
    expect(refusal(bad, checkOf(sysv))).toMatch(/envelope 0/);
  });

  it('a part that is not what its component packs', () => {
    // A cma part of 1 byte (cma packs none): the next md's size byte would be read as part of it.
    const host = Buffer.from(find('default node').ucxKey);
    host[11] = 1;
    expect(refusal(Buffer.concat([host, Buffer.from([0])]), checkOf(find('default node')))).toMatch(/1-byte key part where its component packs 0/);
    // A 4-byte sysv part: uct_sysv_rkey_unpack reads 12.
    const short = Buffer.concat([sysv.ucxKey.subarray(0, 11), Buffer.from([4]), sysv.ucxKey.subarray(12, 16), sysv.ucxKey.subarray(24)]);
    expect(refusal(short, checkOf(sysv))).toMatch(/sysv key of 4 bytes/);
    // A component the validator does not know.
    expect(refusal(sysv.ucxKey, checkOf(sysv, { endpointInfo: DEFAULT_INFO.replace('md[2]/sysv/', 'md[2]/rocm_ipc/') }))).toMatch(/'rocm_ipc'/);
  });

  it('an envelope region larger than the segment the key maps (puts would land past the mapping)', () => {
    expect(refusal(sysv.ucxKey, checkOf(sysv, { length: 65537n }))).toMatch(/not inside the sysv segment/);
    expect(refusal(sysv.ucxKey, checkOf(sysv, { base: sysv.base - 1n }))).toMatch(/not inside the sysv segment/);
    expect(refusal(sysv.ucxKey, checkOf(sysv, { probe: { ...probe, sysvSegment: () => ({ size: 4096, creatorPid: 2000, attachable: true }) } }))).toMatch(
      /not inside/,
    );
    expect(refusal(sysv.ucxKey, checkOf(sysv, { probe: { ...probe, sysvSegment: () => null } }))).toMatch(/does not exist/);
    expect(refusal(posix.ucxKey, checkOf(posix, { length: 65537n }))).toMatch(/not inside the posix segment/);
    // The key's own length beyond the file: pages past its end raise SIGBUS.
    expect(refusal(posix.ucxKey, checkOf(posix, { probe: { ...probe, fileSize: () => 4096 } }))).toMatch(/holds 4096 bytes/);
    expect(refusal(posix.ucxKey, checkOf(posix, { probe: { ...probe, fileSize: () => null } }))).toMatch(/cannot be opened/);
    // procfs mode names /proc/<pid>/fd/<fd>: any file of any process unless it is checked to be UCX's.
    expect(refusal(posix.ucxKey, checkOf(posix, { probe: { ...probe, fdTarget: () => '/home/user/data.db' } }))).toMatch(/not a UCX posix segment/);
  });

  it('what would make the attach inside ucp_ep_rkey_unpack fail (UCX 1.13 then releases an uninitialized handle)', () => {
    expect(refusal(sysv.ucxKey, checkOf(sysv, { probe: { ...probe, sysvSegment: () => ({ size: 65536, creatorPid: 2000, attachable: false }) } }))).toMatch(
      /not this process's to attach/,
    );
    // The key's own length far past the file: mmap of it could fail.
    const long = Buffer.from(posix.ucxKey);
    long.writeBigUInt64LE(1n << 40n, 11 + 16);
    expect(refusal(long, checkOf(posix))).toMatch(/maps 1099511627776 bytes/);
    // MAP_HUGETLB off hugetlbfs fails.
    const huge = Buffer.from(posix.ucxKey);
    huge[11 + 7] |= 0x20;
    expect(refusal(huge, checkOf(posix))).toMatch(/not on hugetlbfs/);
    expect(outcome(huge, checkOf(posix, { probe: { ...probe, onHugetlbfs: () => true } }))).toBe('ok');
  });

  it("a segment of this very process is accepted only from this thread's own live registrations", () => {
    const mine = { ...probe, sysvSegment: () => ({ size: 65536, creatorPid: probe.pid, attachable: true }) };
    expect(refusal(sysv.ucxKey, checkOf(sysv, { probe: mine }))).toMatch(/names System V segment \d+ of this process/);
    const handle = {};
    rememberOwnKey(handle, sysv.ucxKey);
    expect(outcome(sysv.ucxKey, checkOf(sysv, { probe: mine }))).toBe('ok');
    forgetOwnKey(handle);
    expect(outcome(sysv.ucxKey, checkOf(sysv, { probe: mine }))).toBe('refused');
    // posix procfs: the pid is in the segment id's low 30 bits.
    const segId = Buffer.from(posix.ucxKey.subarray(11, 19)).readBigUInt64LE(0);
    const pid = Number(segId & 0x3fffffffn);
    expect(refusal(posix.ucxKey, checkOf(posix, { probe: { ...probe, pid } }))).toMatch(/names file descriptor \d+ of this process/);
    rememberOwnKey(handle, posix.ucxKey);
    expect(outcome(posix.ucxKey, checkOf(posix, { probe: { ...probe, pid } }))).toBe('ok');
    forgetOwnKey(handle);
  });
});

describe('checkRemoteKey: deterministic fuzz', () => {
  it('12,000 mutations of real keys, with regions moved too: each passes or is refused with the code', () => {
    const random = prng(0xc0ffee);
    let accepted = 0;
    let refused = 0;
    for (let round = 0; round < 500; round++) {
      for (const [i, k] of keys.entries()) {
        const donor = keys[(i + round) % keys.length]!.ucxKey;
        const bytes = mutate(k.ucxKey, random, donor);
        const shift = round % 4 === 0 ? BigInt(Math.floor(random() * 8192)) - 4096n : 0n;
        const base = k.base + shift < 0n ? 0n : k.base + shift;
        if (outcome(bytes, checkOf(k, { base })) === 'ok') accepted++;
        else refused++;
      }
    }
    expect(accepted + refused).toBe(500 * keys.length);
    expect(accepted).toBeGreaterThan(500);
    expect(refused).toBeGreaterThan(2000);
    console.log(`remote-key fuzz: ${accepted} accepted, ${refused} refused of ${accepted + refused}`);
  });
});
