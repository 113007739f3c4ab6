// The worker-address validator (src/core/ucx-address.ts) against real addresses of this UCX
// (fixtures/ucx-blobs.json, from fixtures/capture-ucx-blobs.mjs) and mutations of them: each one either
// passes or is UCXError UCS_ERR_INVALID_ADDR, never any other throw.
import { describe, it, expect } from 'vitest';
import { checkWorkerAddress, parseWorkerAddress, ucsCrc16, rememberOwnAddress } from '../../src/core/ucx-address.js';
import type { HostProbe } from '../../src/core/ucx-host.js';
import { UCXError } from '../../src/util/errors.js';
import { prng, mutate } from '../fixtures/mutate.mjs';
import blobs from './fixtures/ucx-blobs.json';

interface Capture {
  name: string;
  address: string;
  local: string;
}
const captures = (blobs as Capture[]).map((c) => ({ name: c.name, address: Buffer.from(c.address, 'hex'), local: Buffer.from(c.local, 'hex') }));
const byName = (name: string): { address: Buffer; local: Buffer } => captures.find((c) => c.name === name)!;

/**
 * A host where this process is pid 1 (nothing in the captures is ours), no System V segment exists, and
 * every file descriptor a posix FIFO names is a UCX posix segment.
 */
const elsewhere: HostProbe = {
  pid: 1,
  sysvSegment: () => null,
  fileSize: () => null,
  onHugetlbfs: () => false,
  fdTarget: () => '/dev/shm/ucx_shm_posix_1f (deleted)',
};

/** 'ok', or the coded refusal; anything else fails the test. */
function outcome(bytes: Uint8Array, local?: Uint8Array, probe = elsewhere): 'ok' | 'refused' {
  try {
    checkWorkerAddress(bytes, local, { probe });
    return 'ok';
  } catch (error) {
    if (error instanceof UCXError && error.code === 'UCS_ERR_INVALID_ADDR' && error.status === -7) return 'refused';
    throw error;
  }
}

function refusal(bytes: Uint8Array, local?: Uint8Array, probe = elsewhere): string {
  try {
    checkWorkerAddress(bytes, local, { probe });
  } catch (error) {
    expect(error).toBeInstanceOf(UCXError);
    expect((error as UCXError).code).toBe('UCS_ERR_INVALID_ADDR');
    return (error as Error).message;
  }
  throw new Error('accepted');
}

/** A v1 address built by hand: header, uuid, then devices of [md byte, dev length byte, dev addr, entries]. */
function v1(devices: { md: number; devLen: number; dev: number[]; entries: { csum: number; iface: number[]; ifaceFlags?: number }[] }[]): Buffer {
  const parts: number[] = [0x20, 1, 2, 3, 4, 5, 6, 7, 8];
  const attr = Buffer.alloc(16);
  attr.writeFloatLE(1e-8, 0);
  attr.writeFloatLE(1e9, 4);
  attr.writeFloatLE(1e-7, 8);
  attr.writeUInt32LE(0x034f00, 12);
  devices.forEach((device, d) => {
    parts.push(device.md, device.devLen | (d === devices.length - 1 ? 0x80 : 0), ...device.dev);
    device.entries.forEach((entry, e) => {
      parts.push(
        entry.csum & 0xff,
        entry.csum >> 8,
        ...attr,
        entry.iface.length | (e === device.entries.length - 1 ? 0x80 : 0) | (entry.ifaceFlags ?? 0),
        ...entry.iface,
      );
    });
  });
  return Buffer.from(parts);
}

describe('checkWorkerAddress: real addresses', () => {
  it('the transport checksums are ucs_crc16_string of the names (self = 0x7563, as UCX packs it)', () => {
    expect(ucsCrc16('self')).toBe(0x7563);
    expect(ucsCrc16('tcp')).toBe(0x19cf);
  });

  it.each(captures.map((c) => [c.name, c] as const))('accepts the %s capture, alone and against a local worker of the same UCX', (_name, c) => {
    expect(outcome(c.address)).toBe('ok');
    expect(outcome(c.address, c.local)).toBe('ok');
    expect(outcome(c.local, c.local)).toBe('ok');
    const parsed = parseWorkerAddress(c.address);
    expect(parsed.entries.length).toBeGreaterThan(0);
    expect(parsed.entries.every((e) => e.transport !== null)).toBe(true);
  });

  it('reads what UCX packed: versions, debug names, the transports of each configuration', () => {
    expect(parseWorkerAddress(byName('default').address)).toMatchObject({ version: 1, name: null, devices: 5 });
    expect(parseWorkerAddress(byName('default').address).entries.map((e) => e.transport)).toEqual(['self', 'tcp', 'sysv', 'posix', 'cma']);
    expect(parseWorkerAddress(byName('address-v2').address).version).toBe(2);
    expect(parseWorkerAddress(byName('debug-info').address).name).toMatch(/^[\x20-\x7e]+:\d+$/);
    expect(parseWorkerAddress(byName('tcp').address).entries.map((e) => e.transport)).toEqual(['tcp']);
    expect(parseWorkerAddress(byName('all-net-devices').address).entries.filter((e) => e.transport === 'tcp')).toHaveLength(2);
  });

  it('refuses every truncation and any trailing byte', () => {
    for (const c of captures) {
      for (let length = 0; length < c.address.length; length++) expect(outcome(c.address.subarray(0, length))).toBe('refused');
      expect(outcome(Buffer.concat([c.address, Buffer.from([0])]))).toBe('refused');
    }
  });
});

describe('checkWorkerAddress: what UCX 1.13 would assert on, overrun or misread', () => {
  const { address, local } = byName('default');

  it('an unknown version (ucp_address_unpack_header asserts), and header flags a worker address never has', () => {
    for (let version = 2; version < 16; version++) {
      const bad = Buffer.from(address);
      bad[0] = (bad[0]! & 0xf0) | version;
      expect(refusal(bad)).toMatch(/unknown address version/);
    }
    const noUuid = Buffer.from(address);
    noUuid[0] = 0x00;
    expect(refusal(noUuid)).toMatch(/no worker uuid/);
    const clientId = Buffer.from(address);
    clientId[0] = 0x60;
    expect(refusal(clientId)).toMatch(/client id/);
    const amOnly = Buffer.from(address);
    amOnly[0] = 0xa0;
    expect(refusal(amOnly)).toMatch(/AM-only/);
  });

  it('a v2 active-message interface with tiny fragments (ucp_ep_config_init asserts a rendezvous key fits)', () => {
    const v2 = Buffer.from(byName('address-v2').address);
    const parsed = parseWorkerAddress(v2);
    // The tcp entry: csum, then fp8 overhead, bandwidth, latency, prio, seg_size u16, flags u16.
    const tcp = parsed.entries.find((e) => e.transport === 'tcp')!;
    const attrAt = tcp.ifaceAddr.byteOffset - v2.byteOffset - 1 - 8;
    expect(v2.readUInt16LE(attrAt + 6) & 0x2).toBe(0x2);
    const tiny = Buffer.from(v2);
    tiny.writeUInt16LE(15, attrAt + 4);
    expect(refusal(tiny)).toMatch(/960-byte fragments/);
    tiny.writeUInt16LE(16, attrAt + 4);
    expect(outcome(tiny)).toBe('ok');
  });

  it('md and device indices beyond what UCX indexes arrays with', () => {
    // v2 extends md indices >= 127 into a second byte: UCX would index ae_cmpts[64] with it.
    const v2 = Buffer.from(byName('address-v2').address);
    const mdAt = 10;
    expect(v2[mdAt]! & 0x7f).toBe(0);
    const extended = Buffer.concat([v2.subarray(0, mdAt), Buffer.from([0x7f, 200]), v2.subarray(mdAt + 1)]);
    expect(refusal(extended)).toMatch(/md index 200/);
    // 65 empty devices: dev_index would pass 64 (UCS_BIT on a 64-bit map).
    const many = Buffer.concat([Buffer.from([0x20, 1, 2, 3, 4, 5, 6, 7, 8]), Buffer.alloc(64 * 2, 0x80), Buffer.from([0x80, 0x80])]);
    for (let i = 9; i < 9 + 128; i += 2) many[i + 1] = 0x00;
    expect(refusal(many)).toMatch(/more than 64 devices/);
  });

  it('endpoint addresses, unprintable names, bad figures and unknown flags', () => {
    const selfIface = [1, 2, 3, 4, 5, 6, 7, 8];
    expect(outcome(v1([{ md: 0x20, devLen: 0, dev: [], entries: [{ csum: 0x7563, iface: selfIface }] }]))).toBe('ok');
    expect(refusal(v1([{ md: 0x20, devLen: 0, dev: [], entries: [{ csum: 0x7563, iface: selfIface, ifaceFlags: 0x40 }] }]))).toMatch(/endpoint addresses/);
    const named = Buffer.from(byName('debug-info').address);
    expect(named[0]! & 0x10).toBe(0x10);
    named[10] = 0x0a;
    expect(refusal(named)).toMatch(/not printable/);
    const good = v1([{ md: 0x20, devLen: 0, dev: [], entries: [{ csum: 0x7563, iface: selfIface }] }]);
    const nanBandwidth = Buffer.from(good);
    nanBandwidth.writeFloatLE(Number.NaN, 9 + 2 + 2 + 4);
    expect(refusal(nanBandwidth)).toMatch(/non-finite/);
    const zeroBandwidth = Buffer.from(good);
    zeroBandwidth.writeFloatLE(0, 9 + 2 + 2 + 4);
    expect(refusal(zeroBandwidth)).toMatch(/zero-bandwidth/);
    const flags = Buffer.from(good);
    flags.writeUInt32LE(0x034f00 | (1 << 25), 9 + 2 + 2 + 12);
    expect(refusal(flags)).toMatch(/unknown interface flags/);
  });

  it('transport addresses shorter or longer than the transport reads', () => {
    const sm = [0x6c, 0xb5, 0x43, 0x55, 0x5e, 0xca, 0x09, 0x34];
    const posixCsum = ucsCrc16('posix');
    const posixIface = [0x95, 0x3c, 0, 0x40, 0x06, 0, 0, 0xc0];
    expect(outcome(v1([{ md: 0x40, devLen: 8, dev: sm, entries: [{ csum: posixCsum, iface: posixIface }] }]))).toBe('ok');
    // The namespace flag (bit 63) says 8 more bytes follow the system id: UCX would read them.
    const nsFlag = [...sm.slice(0, 7), sm[7]! | 0x80];
    expect(refusal(v1([{ md: 0x40, devLen: 8, dev: nsFlag, entries: [{ csum: posixCsum, iface: posixIface }] }]))).toMatch(/namespace flag/);
    // procfs + pid-namespace flag: the pid namespace inode must follow the segment id.
    const pidNs = [...posixIface.slice(0, 7), 0xd0];
    expect(refusal(v1([{ md: 0x40, devLen: 8, dev: sm, entries: [{ csum: posixCsum, iface: pidNs }] }]))).toMatch(/procfs/);
    // The posix directory must be one NUL-terminated string.
    const dir = [0x95, 0x3c, 0, 0, 0, 0, 0, 0, 0x2f, 0x74];
    expect(refusal(v1([{ md: 0x40, devLen: 8, dev: sm, entries: [{ csum: posixCsum, iface: dir }] }]))).toMatch(/NUL-terminated/);
    // tcp: the family decides how long the device address is.
    const tcp = ucsCrc16('tcp');
    expect(outcome(v1([{ md: 0x21, devLen: 6, dev: [0, 2, 10, 0, 0, 1], entries: [{ csum: tcp, iface: [0x12, 0x34] }] }]))).toBe('ok');
    expect(refusal(v1([{ md: 0x21, devLen: 6, dev: [0, 10, 10, 0, 0, 1], entries: [{ csum: tcp, iface: [0x12, 0x34] }] }]))).toMatch(
      /tcp device address of 6 bytes/,
    );
    expect(refusal(v1([{ md: 0x21, devLen: 6, dev: [0, 7, 10, 0, 0, 1], entries: [{ csum: tcp, iface: [0x12, 0x34] }] }]))).toMatch(/address family 7/);
    expect(refusal(v1([{ md: 0x21, devLen: 6, dev: [0, 2, 10, 0, 0, 1], entries: [{ csum: tcp, iface: [0x12] }] }]))).toMatch(/2-byte port/);
    // cma: bit 31 of the pid says its namespace follows.
    const cma = ucsCrc16('cma');
    expect(refusal(v1([{ md: 0x24, devLen: 8, dev: sm, entries: [{ csum: cma, iface: [1, 2, 3, 0x80] }] }]))).toMatch(/cma interface address/);
    // InfiniBand: the flags byte decides the length (lid, then interface id with flag 0x40).
    const rc = ucsCrc16('rc_mlx5');
    expect(outcome(v1([{ md: 0x25, devLen: 3, dev: [0x00, 1, 0], entries: [{ csum: rc, iface: [] }] }]))).toBe('ok');
    expect(refusal(v1([{ md: 0x25, devLen: 3, dev: [0x40, 1, 0], entries: [{ csum: rc, iface: [] }] }]))).toMatch(/InfiniBand/);
  });

  it("against this worker's address: lengths its transports read, and its self id in a peer's address", () => {
    // posix: ep_create copies as many bytes as the local posix md packs (8 here).
    const parsedLocal = parseWorkerAddress(local);
    const sm = Array.from(parsedLocal.entries.find((e) => e.transport === 'posix')!.devAddr);
    const posix = ucsCrc16('posix');
    const longer = [0x95, 0x3c, 0, 0x40, 0x06, 0, 0, 0xd0, 1, 2, 3, 4, 5, 6, 7, 8];
    expect(outcome(v1([{ md: 0x40, devLen: 8, dev: sm, entries: [{ csum: posix, iface: longer }] }]))).toBe('ok');
    expect(refusal(v1([{ md: 0x40, devLen: 8, dev: sm, entries: [{ csum: posix, iface: longer }] }]), local)).toMatch(/this worker's has 8/);
    // A transport this worker lacks is never handed to transport code: only its structure counts.
    const ud = ucsCrc16('ud_verbs');
    expect(outcome(v1([{ md: 0x25, devLen: 3, dev: [0x40, 1, 0], entries: [{ csum: ud, iface: [1, 2, 3] }] }]), local)).toBe('ok');
    // Our own self id spliced into another address would make UCX's self transport (plain stores in
    // this process at the peer's addresses) serve a remote peer.
    const selfId = Array.from(parsedLocal.entries.find((e) => e.transport === 'self')!.ifaceAddr);
    const spliced = v1([
      { md: 0x20, devLen: 0, dev: [], entries: [{ csum: 0x7563, iface: selfId }] },
      { md: 0x21, devLen: 6, dev: [0, 2, 10, 0, 0, 1], entries: [{ csum: ucsCrc16('tcp'), iface: [0x12, 0x34] }] },
    ]);
    expect(refusal(spliced, local)).toMatch(/self entry with this worker's own id/);
    expect(outcome(local, local)).toBe('ok');
    // One md, two components: UCX unpacks remote keys per md index with one component.
    expect(
      refusal(
        v1([
          { md: 0x21, devLen: 6, dev: [0, 2, 10, 0, 0, 1], entries: [{ csum: ucsCrc16('tcp'), iface: [0x12, 0x34] }] },
          { md: 0x41, devLen: 8, dev: sm, entries: [{ csum: ucsCrc16('sysv'), iface: [1, 0, 0, 0, 0, 0, 0, 0] }] },
        ]),
      ),
    ).toMatch(/md 1 claimed by both tcp and sysv/);
  });

  it("same-host entries naming this process: only in the address of one of this thread's live workers", () => {
    // Pretend to be the process that packed the default capture: its posix FIFO and cma pid are ours.
    const pid = Buffer.from(parseWorkerAddress(address).entries.find((e) => e.transport === 'cma')!.ifaceAddr).readUInt32LE(0);
    const us: HostProbe = { ...elsewhere, pid };
    expect(refusal(address, local, us)).toMatch(/a posix FIFO names this process/);
    // PEER error mode: UCX 1.13 gives no same-host lanes, so these entries are only walked (this is
    // what lets a worker of another thread of this process be reached by address).
    expect(() => checkWorkerAddress(address, local, { probe: us, sameHostLanes: false })).not.toThrow();
    const spliced = Buffer.from(address);
    expect(() => checkWorkerAddress(spliced, local, { probe: { ...us, fdTarget: () => '/etc/passwd' }, sameHostLanes: false })).not.toThrow();
    // cma alone (posix in shm_open mode names no pid): the cma pid is ours.
    const shmOpen = byName('posix-shm-open').address;
    const cmaPid = Buffer.from(parseWorkerAddress(shmOpen).entries.find((e) => e.transport === 'cma')!.ifaceAddr).readUInt32LE(0);
    expect(refusal(shmOpen, undefined, { ...elsewhere, pid: cmaPid })).toMatch(/a cma entry names this process/);
    const worker = { closed: false };
    rememberOwnAddress(worker, address);
    expect(outcome(address, local, us)).toBe('ok');
    worker.closed = true;
    expect(outcome(address, local, us)).toBe('refused');
    // A sysv FIFO segment this process created.
    const sysvOnly = byName('sysv-self');
    const shmid = Number(Buffer.from(parseWorkerAddress(sysvOnly.address).entries[1]!.ifaceAddr).readBigUInt64LE(0));
    const creator: HostProbe = { ...elsewhere, pid: 42, sysvSegment: (id) => (id === shmid ? { size: 4096, creatorPid: 42, attachable: true } : null) };
    expect(refusal(sysvOnly.address, undefined, creator)).toMatch(/a sysv FIFO \(by its creator\) names this process/);
    const bad = Buffer.from(sysvOnly.address);
    bad[bad.length - 1] = 0x80; // the high byte of the sysv segment id
    expect(refusal(bad)).toMatch(/beyond 31 bits/);
  });

  it('same-host entries: a posix FIFO must be a UCX segment, and all of them must name one process', () => {
    // ep_create opens /proc/<pid>/fd/<fd> read-write and writes messages into it.
    expect(refusal(address, local, { ...elsewhere, fdTarget: () => '/home/user/data.db' })).toMatch(/not a UCX posix segment/);
    expect(refusal(address, local, { ...elsewhere, fdTarget: () => null })).toMatch(/not a UCX posix segment/);
    // The cma pid of another process than the posix FIFO's: puts would reach a third process.
    const parsed = parseWorkerAddress(address);
    const cma = parsed.entries.find((e) => e.transport === 'cma')!;
    const other = Buffer.from(address);
    const at = address.length - 4;
    expect(Buffer.from(cma.ifaceAddr).equals(address.subarray(at))).toBe(true);
    other.writeUInt32LE(address.readUInt32LE(at) + 1, at);
    expect(refusal(other, local)).toMatch(/name different processes/);
    // Another host's entries (a different system id) are never reached by UCX: no look-ups for them.
    const remote = Buffer.from(other);
    for (const entry of parsed.entries.filter((e) => e.devAddr.length === 8)) {
      remote[entry.devAddr.byteOffset - address.byteOffset] ^= 0x01;
    }
    expect(outcome(remote, local, { ...elsewhere, fdTarget: () => null })).toBe('ok');
  });

  it('this worker cannot check peers when its own address is not in the format it knows', () => {
    expect(() => checkWorkerAddress(address, Buffer.from([0x25]))).toThrow(/own address is not in the format/);
  });
});

describe('checkWorkerAddress: deterministic fuzz', () => {
  it('12,000 mutations of real addresses (flips, writes, truncations, insertions, splices): each passes or is refused with the code', () => {
    const random = prng(0x5eed);
    let accepted = 0;
    let refused = 0;
    for (let round = 0; round < 1000; round++) {
      for (const [i, c] of captures.entries()) {
        const donor = captures[(i + round) % captures.length]!.address;
        let bytes = mutate(c.address, random, donor);
        if (round % 3 === 0) bytes = mutate(bytes, random, donor);
        if (outcome(bytes, round % 2 === 0 ? c.local : undefined) === 'ok') accepted++;
        else refused++;
      }
    }
    expect(accepted + refused).toBe(12_000);
    // Both outcomes occur: the mutations reach past the header, and the checks refuse most of them.
    expect(accepted).toBeGreaterThan(500);
    expect(refused).toBeGreaterThan(5000);
    console.log(`worker-address fuzz: ${accepted} accepted, ${refused} refused of 12000`);
  });
});
