// Checks a peer's UCX worker address (ucp_worker_get_address output) before ucp_ep_create sees it.
//
// UCX 1.13's ucp_address_unpack (src/ucp/wireup/address.c) gets no length: it walks the bytes with
// assertions (an unknown version aborts the process), reads past the end of a short buffer, and
// hands each entry's device and interface address to the matching transport, which reads the
// fixed-size struct it expects. This walks the same bytes in the same order with bounds checks and
// accepts only what 1.13's packer produces for a worker address (docs/wire-format.md, "What node-ucx
// checks before UCX sees a peer's bytes"). No addon; HostProbe (ucx-host.ts) looks up System V segments.
import { UCXError, Status } from '../util/errors.js';
import { hostProbe, UCX_POSIX_SEGMENT, type HostProbe } from './ucx-host.js';

/** UCX transport names (UCT_TL_DEFINE in 1.13), found in an address by ucs_crc16_string(name). */
const TRANSPORT_NAMES = [
  'self',
  'tcp',
  'posix',
  'sysv',
  'xpmem',
  'cma',
  'knem',
  'rc_verbs',
  'rc_mlx5',
  'dc_mlx5',
  'ud_verbs',
  'ud_mlx5',
  'cuda_copy',
  'cuda_ipc',
  'gdr_copy',
  'rocm_copy',
  'rocm_ipc',
  'rocm_gdr',
  'ugni_rdma',
  'ugni_smsg',
  'ugni_udt',
] as const;
const IB_TRANSPORTS = new Set(['rc_verbs', 'rc_mlx5', 'dc_mlx5', 'ud_verbs', 'ud_mlx5']);
/** Same-host transports whose device address is uct_iface_local_addr_ns_t (sm_iface.c). */
const SM_TRANSPORTS = new Set(['posix', 'sysv', 'xpmem', 'cma', 'knem']);

/** ucs_crc16_string (src/ucs/algorithm/crc.c): CRC-16-CCITT, reflected polynomial 0x8408. */
export function ucsCrc16(text: string): number {
  let crc = 0xffff;
  for (const byte of Buffer.from(text, 'latin1')) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = (crc >>> 1) ^ (crc & 1 ? 0x8408 : 0);
  }
  return ~crc & 0xffff;
}

const TRANSPORT_BY_CSUM = new Map<number, string>(TRANSPORT_NAMES.map((name) => [ucsCrc16(name), name]));

// Limits of UCX 1.13 (src/ucp/core/ucp_types.h) that the unpacker or its users rely on.
const UCP_MAX_MDS = 64; // ae_cmpts[UCP_MAX_MDS] and UCS_BIT(md_index) in wireup.c
const MAX_DEVICES = 64; // UCS_BIT(dev_index) on a uint64_t remote_dev_bitmap in select.c
const UCP_MAX_RESOURCES = 128; // the unpacker's address_list
const UCP_MAX_SYS_DEVICES = 64;
const NULL_RESOURCE = 0xff;

// Header flags (address.c UCP_ADDRESS_HEADER_FLAG_*).
const HEADER_DEBUG_INFO = 0x1;
const HEADER_WORKER_UUID = 0x2;
const HEADER_CLIENT_ID = 0x4;
const HEADER_AM_ONLY = 0x8;
// Flags in the md, device-length and iface-length bytes.
const FLAG_LAST = 0x80;
const FLAG_MD_EMPTY_DEV = 0x80;
const FLAG_HAS_EP_ADDR = 0x40;
const FLAG_NUM_PATHS = 0x40;
const FLAG_SYS_DEVICE = 0x20;
const IFACE_LEN_MASK = 0x3f;
const DEVICE_LEN_MASK = 0x1f;
const MD_MASK_V1 = 0x1f;
const MD_MASK_V2 = 0x7f;
// v1 iface attributes: prio (8 bits), 13 capability flags and 1 event flag from bit 8, atomics in bits 30-31.
const V1_ATTR_BYTES = 16;
const V1_KNOWN_FLAGS = 0xff | (0x3fff << 8) | (0x3 << 30);
// v2 iface attributes: fp8 overhead, bandwidth, latency; prio; seg_size u16; flags u16 (UCP_ADDR_IFACE_FLAG_*).
const V2_ATTR_BYTES = 8;
const V2_KNOWN_FLAGS = 0x3ff;
const V2_FLAG_AM_SYNC = 0x2;
const V2_MIN_AM_SEG_SIZE = 16; // x 64 = 1 KiB
const FP8_NAN_EXPONENT = 0xf;
const LOCAL_ADDR_FLAG_NS = 1n << 63n; // UCT_IFACE_LOCAL_ADDR_FLAG_NS
const CMA_FLAG_PID_NS = 0x80000000; // UCT_CMA_IFACE_ADDR_FLAG_PID_NS
const POSIX_SEG_FLAG_PROCFS = 1n << 63n;
const POSIX_SEG_FLAG_SHM_OPEN = 1n << 62n;
const POSIX_SEG_FLAG_PID_NS = 1n << 60n;
const AF_INET = 2;
const AF_INET6 = 10;

/** One transport entry of a worker address. */
export interface AddressEntry {
  /** The transport's name when it is one UCX 1.13 defines, else null (UCX ignores it unless a local one has that checksum). */
  transport: string | null;
  csum: number;
  mdIndex: number;
  devIndex: number;
  devAddr: Uint8Array;
  ifaceAddr: Uint8Array;
}

export interface WorkerAddress {
  /** 1 or 2 (UCX_ADDRESS_VERSION). */
  version: 1 | 2;
  uuid: bigint;
  /** The worker name UCX packs with UCX_ADDRESS_DEBUG_INFO=y, else null. */
  name: string | null;
  devices: number;
  entries: AddressEntry[];
}

function invalid(reason: string): UCXError {
  return new UCXError(`not a UCX worker address: ${reason}`, 'UCS_ERR_INVALID_ADDR', Status.ERR_INVALID_ADDR);
}

class Reader {
  offset = 0;
  constructor(readonly bytes: Uint8Array) {}

  need(count: number, what: string): void {
    if (this.offset + count > this.bytes.length) {
      throw invalid(`${this.bytes.length} bytes end inside ${what} (needs ${count} at offset ${this.offset})`);
    }
  }

  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.offset++]!;
  }

  peek(what: string): number {
    this.need(1, what);
    return this.bytes[this.offset]!;
  }

  take(count: number, what: string): Uint8Array {
    this.need(count, what);
    const view = this.bytes.subarray(this.offset, this.offset + count);
    this.offset += count;
    return view;
  }

  view(count: number, what: string): DataView {
    const bytes = this.take(count, what);
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}

function fp8Exponent(value: number): number {
  return value & 0xf;
}

/**
 * Walks a packed worker address exactly as UCX 1.13's non-unified ucp_address_unpack does and returns what
 * it found; any byte string it would assert on, read past the end of, or that is not what 1.13's
 * ucp_worker_get_address produces throws UCXError 'UCS_ERR_INVALID_ADDR'. Structure only: transport
 * contents are checkWorkerAddress's.
 */
export function parseWorkerAddress(bytes: Uint8Array): WorkerAddress {
  if (!(bytes instanceof Uint8Array)) throw invalid('not bytes');
  const reader = new Reader(bytes);
  // Header: the low 4 bits of byte 0 are the version (ucp_object_version_t: 0 = v1, 1 = v2); any other
  // value hits ucs_assertv_always in ucp_address_unpack_header. v1 keeps its flags in the high 4 bits,
  // v2 in byte 1.
  const first = reader.u8('the header');
  const versionBits = first & 0xf;
  if (versionBits > 1) throw invalid(`unknown address version ${versionBits} (UCX 1.13 asserts on it)`);
  const version: 1 | 2 = versionBits === 0 ? 1 : 2;
  let flags: number;
  if (version === 1) {
    flags = first >> 4;
  } else {
    if (first >> 4 !== 0) throw invalid(`v2 header byte 0x${first.toString(16)} has bits above the version`);
    flags = reader.u8('the v2 header flags');
    if (flags & ~0xf) throw invalid(`unknown header flags 0x${flags.toString(16)}`);
  }
  // ucp_worker_get_address always packs the worker uuid, never a client id, never AM-only.
  if (!(flags & HEADER_WORKER_UUID)) throw invalid('no worker uuid (ucp_worker_get_address always packs one)');
  if (flags & HEADER_CLIENT_ID) throw invalid('a client id (only client-server addresses carry one)');
  if (flags & HEADER_AM_ONLY) throw invalid('an AM-only address (only client-server addresses are)');
  const uuid = reader.view(8, 'the worker uuid').getBigUint64(0, true);
  let name: string | null = null;
  if (flags & HEADER_DEBUG_INFO) {
    const length = reader.u8('the worker name length');
    const raw = reader.take(length, 'the worker name');
    // UCX names a worker "host:pid"; anything unprintable could forge lines of ucp_ep_print_info's text.
    if (length === 0 || raw.some((c) => c < 0x20 || c > 0x7e)) throw invalid('a worker name that is empty or not printable ASCII');
    name = Buffer.from(raw).toString('latin1');
  }

  const entries: AddressEntry[] = [];
  if (reader.peek('the device list') === NULL_RESOURCE) {
    reader.offset++;
    if (reader.offset !== bytes.length) throw invalid(`${bytes.length - reader.offset} bytes after the empty device list`);
    return { version, uuid, name, devices: 0, entries };
  }

  let devIndex = 0;
  let lastDevice = false;
  while (!lastDevice) {
    if (devIndex >= MAX_DEVICES) throw invalid(`more than ${MAX_DEVICES} devices`);
    // md index and the empty-device flag; v2 extends an md index of 127 or more into the next byte.
    const mdByte = reader.u8('an md index');
    const emptyDevice = (mdByte & FLAG_MD_EMPTY_DEV) !== 0;
    let mdIndex = mdByte & (version === 1 ? MD_MASK_V1 : MD_MASK_V2);
    if (version === 2 && mdIndex === MD_MASK_V2) mdIndex = reader.u8('an extended md index');
    if (mdIndex >= UCP_MAX_MDS) throw invalid(`md index ${mdIndex} (UCX has at most ${UCP_MAX_MDS} memory domains)`);
    // Device address length with the LAST, NUM_PATHS and SYS_DEVICE flags; v2 extends a length of 31.
    const lengthByte = reader.u8('a device address length');
    lastDevice = (lengthByte & FLAG_LAST) !== 0;
    let devLength = lengthByte & DEVICE_LEN_MASK;
    if (version === 2 && devLength === DEVICE_LEN_MASK) devLength = reader.u8('an extended device address length');
    if (lengthByte & FLAG_NUM_PATHS) {
      const paths = reader.u8('a device path count');
      if (paths < 2) throw invalid(`a device path count of ${paths} (UCX packs it only when above 1)`);
    }
    if (lengthByte & FLAG_SYS_DEVICE) {
      const sysDev = reader.u8('a system device');
      if (sysDev >= UCP_MAX_SYS_DEVICES) throw invalid(`system device ${sysDev} (at most ${UCP_MAX_SYS_DEVICES - 1})`);
    }
    const devAddr = reader.take(devLength, 'a device address');

    let lastTransport = emptyDevice;
    while (!lastTransport) {
      if (entries.length >= UCP_MAX_RESOURCES) throw invalid(`more than ${UCP_MAX_RESOURCES} transport entries`);
      const csum = reader.view(2, 'a transport name checksum').getUint16(0, true);
      if (version === 1) {
        const attr = reader.view(V1_ATTR_BYTES, 'v1 interface attributes');
        const overhead = attr.getFloat32(0, true);
        const bandwidth = attr.getFloat32(4, true);
        const latency = attr.getFloat32(8, true);
        const capFlags = attr.getUint32(12, true);
        // UCX refuses bandwidth <= 0 itself; NaN and infinities would poison its lane scores.
        if (!Number.isFinite(overhead) || overhead < 0 || !Number.isFinite(latency) || latency < 0 || !Number.isFinite(bandwidth) || bandwidth <= 0) {
          throw invalid('interface attributes with a negative, zero-bandwidth or non-finite figure');
        }
        if (capFlags & ~V1_KNOWN_FLAGS) throw invalid(`unknown interface flags 0x${(capFlags >>> 0).toString(16)}`);
      } else {
        const attr = reader.view(V2_ATTR_BYTES, 'v2 interface attributes');
        const overhead = attr.getUint8(0);
        const bandwidth = attr.getUint8(1);
        const latency = attr.getUint8(2);
        const segSize = attr.getUint16(4, true);
        const ifaceFlags = attr.getUint16(6, true);
        if ([overhead, bandwidth, latency].some((v) => fp8Exponent(v) === FP8_NAN_EXPONENT) || fp8Exponent(bandwidth) === 0) {
          throw invalid('interface attributes with a zero-bandwidth or NaN figure');
        }
        if (ifaceFlags & ~V2_KNOWN_FLAGS) throw invalid(`unknown interface flags 0x${ifaceFlags.toString(16)}`);
        // An AM lane's fragments are at most seg_size * 64 bytes: ucp_ep_config_init asserts that a
        // rendezvous key fits (UCX packs the transport's max_bcopy, 8 KiB and more for every AM transport).
        if (ifaceFlags & V2_FLAG_AM_SYNC && segSize < V2_MIN_AM_SEG_SIZE) {
          throw invalid(`an active-message interface that takes ${segSize * 64}-byte fragments (at least ${V2_MIN_AM_SEG_SIZE * 64})`);
        }
      }
      // Interface address length with LAST and HAS_EP_ADDR; v2 extends a length of 63.
      const ifaceByte = reader.u8('an interface address length');
      lastTransport = (ifaceByte & FLAG_LAST) !== 0;
      if (ifaceByte & FLAG_HAS_EP_ADDR) throw invalid('endpoint addresses (a worker address never carries them)');
      let ifaceLength = ifaceByte & IFACE_LEN_MASK;
      if (version === 2 && ifaceLength === IFACE_LEN_MASK) ifaceLength = reader.u8('an extended interface address length');
      const ifaceAddr = reader.take(ifaceLength, 'an interface address');
      entries.push({ transport: TRANSPORT_BY_CSUM.get(csum) ?? null, csum, mdIndex, devIndex, devAddr, ifaceAddr });
    }
    devIndex++;
  }
  if (reader.offset !== bytes.length) throw invalid(`${bytes.length - reader.offset} bytes after the last device`);
  return { version, uuid, name, devices: devIndex, entries };
}

function u64(bytes: Uint8Array, offset = 0): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(offset, true);
}

/** uct_iface_local_addr_ns_t: a system id, and the namespace inode after it when bit 63 says so. */
function checkLocalDeviceAddress(what: string, devAddr: Uint8Array): void {
  if (devAddr.length !== 8 && devAddr.length !== 16) throw invalid(`${what} device address of ${devAddr.length} bytes (8 or 16)`);
  const hasNs = (u64(devAddr) & LOCAL_ADDR_FLAG_NS) !== 0n;
  if (hasNs !== (devAddr.length === 16)) throw invalid(`${what} device address whose namespace flag disagrees with its length`);
}

/** uct_ib_address_t: a flags byte says which fields follow (uct_ib_address_unpack). */
function ibDeviceAddressSize(flags: number): number | null {
  let size = 1;
  if (flags & 0x08) {
    size += 16; // ETH: raw GID; bits 4-7 are the RoCE address family and version
  } else {
    if (flags & 0x80) return null;
    if (flags & 0x10 && flags & 0x20) return null; // SUBNET16 and SUBNET64 at once
    size += 2; // lid
    if (flags & 0x40) size += 8; // interface id
    if (flags & 0x10) size += 2;
    if (flags & 0x20) size += 8;
  }
  if (flags & 0x02) size += 1; // path MTU
  if (flags & 0x01) size += 1; // GID index
  if (flags & 0x04) size += 2; // pkey
  return size;
}

/** What the transports of this worker expect, learnt from its own address. */
interface LocalTransports {
  address: Uint8Array;
  /** Interface and device address lengths, and the device addresses, of each transport in our own address. */
  byCsum: Map<number, { iface: Set<number>; dev: Set<number>; devAddrs: Uint8Array[] }>;
  selfIds: Set<bigint>;
}

const localCache = new WeakMap<Uint8Array, LocalTransports>();

function localTransports(local: Uint8Array): LocalTransports {
  let known = localCache.get(local);
  if (known !== undefined) return known;
  let parsed: WorkerAddress;
  try {
    parsed = parseWorkerAddress(local);
  } catch (error) {
    throw new UCXError(
      `this worker's own address is not in the format node-ucx checks (UCX_UNIFIED_MODE=y?), so a peer's ` + `cannot be checked: ${(error as Error).message}`,
      'UCS_ERR_INVALID_ADDR',
      Status.ERR_INVALID_ADDR,
    );
  }
  known = { address: local, byCsum: new Map(), selfIds: new Set() };
  for (const entry of parsed.entries) {
    let lengths = known.byCsum.get(entry.csum);
    if (lengths === undefined) known.byCsum.set(entry.csum, (lengths = { iface: new Set(), dev: new Set(), devAddrs: [] }));
    lengths.iface.add(entry.ifaceAddr.length);
    lengths.dev.add(entry.devAddr.length);
    lengths.devAddrs.push(entry.devAddr);
    if (entry.transport === 'self' && entry.ifaceAddr.length === 8) known.selfIds.add(u64(entry.ifaceAddr));
  }
  localCache.set(local, known);
  return known;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * The addresses of this thread's live workers (Worker.address records them). An address whose
 * same-host transports name this process (its pid, its System V segments) is accepted only when it is
 * one of these: otherwise a peer could have UCX map this process's own files and segments as a FIFO
 * and write into them, or point cma's process_vm_writev at this process.
 */
const ownAddresses = new Map<string, WeakRef<{ readonly closed: boolean }>>();

/** Records `address` as `owner`'s own for as long as owner is open; returns it. */
export function rememberOwnAddress<T extends Uint8Array>(owner: { readonly closed: boolean }, address: T): T {
  if (ownAddresses.size >= 64) {
    for (const [hex, ref] of ownAddresses) if (ref.deref()?.closed !== false) ownAddresses.delete(hex);
  }
  ownAddresses.set(Buffer.from(address.buffer, address.byteOffset, address.byteLength).toString('hex'), new WeakRef(owner));
  return address;
}

function isOwnAddress(address: Uint8Array): boolean {
  const owner = ownAddresses.get(Buffer.from(address.buffer, address.byteOffset, address.byteLength).toString('hex'))?.deref();
  return owner !== undefined && !owner.closed;
}

interface EntryContext {
  address: Uint8Array;
  local: LocalTransports | null;
  probe: HostProbe;
  /** Whether UCX may give the endpoint same-host lanes (self, shared memory, cma). */
  sameHostLanes: boolean;
  /** The processes this address's same-host entries name: one peer has one pid. */
  hostPids: Map<number, string>;
}

/**
 * Whether UCX would reach this same-host entry: its device address (system id and namespace) is
 * ours (uct_iface_local_is_reachable). Without our own address, assume so.
 */
function onThisHost(entry: AddressEntry, context: EntryContext): boolean {
  const { local, sameHostLanes } = context;
  if (!sameHostLanes) return false;
  if (local === null) return true;
  return local.byCsum.get(entry.csum)?.devAddrs.some((mine) => sameBytes(mine, entry.devAddr)) ?? false;
}

/** Same-host entries that name this process belong to this thread's own workers' addresses only. */
function namesProcess(context: EntryContext, pid: number, what: string): void {
  if (pid === context.probe.pid && !isOwnAddress(context.address)) {
    throw invalid(`${what} names this process (pid ${pid}), but the address is not one of this thread's workers'`);
  }
  context.hostPids.set(pid, what);
}

/** The transport-specific part: what the transport's is_reachable and ep_create will read. */
function checkEntry(entry: AddressEntry, context: EntryContext): void {
  const { address, local, probe } = context;
  const lengths = local?.byCsum.get(entry.csum);
  // A transport this worker lacks: UCX matches entries to local transports by checksum and never
  // hands this one's addresses to any transport code, so only its structure matters.
  if (local !== null && lengths === undefined) return;
  const name = entry.transport;
  const what = name ?? `transport 0x${entry.csum.toString(16)}`;
  const { devAddr, ifaceAddr } = entry;
  switch (name) {
    case 'self':
      // The self transport reaches this very worker (uct_self_iface_is_reachable compares the id),
      // and its puts are plain stores at the address the peer names: an address that names our self
      // id must be our own address, not another peer's with our id spliced in.
      if (devAddr.length !== 0 || ifaceAddr.length !== 8) throw invalid('a self entry that is not 0 + 8 bytes');
      if (context.sameHostLanes && local !== null && local.selfIds.has(u64(ifaceAddr)) && !sameBytes(address, local.address)) {
        throw invalid("a self entry with this worker's own id inside another worker's address");
      }
      return;
    case 'tcp': {
      // uct_tcp_device_addr_t: flags, sa_family, then the loopback namespace address or the IP.
      if (devAddr.length < 2) throw invalid('a tcp device address shorter than 2 bytes');
      const [flags, family] = [devAddr[0]!, devAddr[1]!];
      if (flags & ~1) throw invalid(`tcp device flags 0x${flags.toString(16)}`);
      if (family !== AF_INET && family !== AF_INET6) throw invalid(`tcp address family ${family}`);
      const expected = 2 + (flags & 1 ? 16 : family === AF_INET ? 4 : 16);
      if (devAddr.length !== expected) throw invalid(`a tcp device address of ${devAddr.length} bytes (expected ${expected})`);
      if (ifaceAddr.length !== 2) throw invalid('a tcp interface address that is not a 2-byte port');
      return;
    }
    case 'cma': {
      checkLocalDeviceAddress('a cma', devAddr);
      // The peer's pid, with bit 31 saying that its pid namespace inode follows.
      if (ifaceAddr.length !== 4 && ifaceAddr.length !== 12) throw invalid(`a cma interface address of ${ifaceAddr.length} bytes`);
      const pidWord = new DataView(ifaceAddr.buffer, ifaceAddr.byteOffset, 4).getUint32(0, true);
      if (((pidWord & CMA_FLAG_PID_NS) !== 0) !== (ifaceAddr.length === 12))
        throw invalid('a cma interface address whose namespace flag disagrees with its length');
      // process_vm_writev(pid): puts and gets on a cma lane reach this process's memory.
      if (onThisHost(entry, context)) namesProcess(context, pidWord & ~CMA_FLAG_PID_NS, 'a cma entry');
      return;
    }
    case 'posix': {
      checkLocalDeviceAddress('a posix', devAddr);
      // uct_mm_iface_addr_t: the FIFO's segment id, then what the posix md adds: nothing (procfs or
      // shm_open), the pid namespace inode (procfs in a pid namespace), or the NUL-terminated directory.
      if (ifaceAddr.length < 8) throw invalid('a posix interface address shorter than its 8-byte segment id');
      // Bits 60-63 are flags (procfs, shm_open, hugetlb, pid namespace), the rest the mmid.
      const segId = u64(ifaceAddr);
      const extra = ifaceAddr.subarray(8);
      if (segId & POSIX_SEG_FLAG_PROCFS) {
        if (extra.length !== (segId & POSIX_SEG_FLAG_PID_NS ? 8 : 0)) throw invalid('a posix procfs interface address of the wrong length');
        // The FIFO is /proc/<pid>/fd/<fd> (pid in the low 30 bits of the mmid, fd above), which ep_create
        // opens read-write, maps and writes messages into: it must be a UCX posix segment of the peer.
        if (onThisHost(entry, context)) {
          const pid = Number(segId & 0x3fffffffn);
          const fd = Number((segId >> 30n) & 0x3fffffffn);
          namesProcess(context, pid, 'a posix FIFO');
          if (!UCX_POSIX_SEGMENT.test(probe.fdTarget(pid, fd) ?? '')) throw invalid(`a posix FIFO, /proc/${pid}/fd/${fd}, that is not a UCX posix segment`);
        }
      } else if (segId & POSIX_SEG_FLAG_PID_NS) {
        throw invalid('a posix pid-namespace flag without procfs');
      } else if (segId & POSIX_SEG_FLAG_SHM_OPEN) {
        if (extra.length !== 0) throw invalid('a posix shm_open interface address with extra bytes');
      } else if (extra.length < 2 || extra[extra.length - 1] !== 0 || extra.subarray(0, -1).includes(0)) {
        throw invalid('a posix directory that is not one NUL-terminated string');
      }
      break; // ep_create copies as many bytes as this worker's own posix md packs: see below
    }
    case 'sysv':
      checkLocalDeviceAddress('a sysv', devAddr);
      if (ifaceAddr.length !== 8) throw invalid('a sysv interface address that is not an 8-byte segment id');
      {
        // shmat((int)seg_id): a shmid is a non-negative int.
        const shmid = u64(ifaceAddr);
        if (shmid >> 31n !== 0n) throw invalid('a sysv segment id beyond 31 bits');
        const creator = onThisHost(entry, context) ? probe.sysvSegment(Number(shmid))?.creatorPid : undefined;
        if (creator !== undefined) namesProcess(context, creator, 'a sysv FIFO (by its creator)');
      }
      return;
    default:
      if (name !== null && SM_TRANSPORTS.has(name)) checkLocalDeviceAddress(`a ${name}`, devAddr);
      if (name !== null && IB_TRANSPORTS.has(name)) {
        const size = devAddr.length === 0 ? null : ibDeviceAddressSize(devAddr[0]!);
        if (size !== devAddr.length) throw invalid(`an InfiniBand device address of ${devAddr.length} bytes that its flags do not describe`);
      }
      break;
  }
  // Transport code reads the fixed-size interface address (and, for transports not described above,
  // device address) that it packs itself: lengths must be what this worker's own entry has.
  if (lengths === undefined) return;
  if (!lengths.iface.has(ifaceAddr.length))
    throw invalid(`a ${what} interface address of ${ifaceAddr.length} bytes (this worker's has ${[...lengths.iface].join(' or ')})`);
  const selfDescribed = name !== null && (SM_TRANSPORTS.has(name) || IB_TRANSPORTS.has(name));
  if (!selfDescribed && !lengths.dev.has(devAddr.length))
    throw invalid(`a ${what} device address of ${devAddr.length} bytes (this worker's has ${[...lengths.dev].join(' or ')})`);
}

export interface AddressCheckOptions {
  /**
   * Whether the endpoint may get same-host lanes (default true). UCX 1.13 gives endpoints in PEER
   * error mode none (self, posix, sysv and cma cannot detect a dead peer), so for them same-host
   * entries are only walked; with errorHandling 'none' they are checked as below.
   */
  sameHostLanes?: boolean;
  /** Look-ups on this host (default: the real one). */
  probe?: HostProbe;
}

/**
 * Throws UCXError 'UCS_ERR_INVALID_ADDR' unless `bytes` is a worker address that UCX 1.13 unpacks without
 * asserting, reading past its end, or handing a transport fewer or other bytes than it reads: the
 * structure (parseWorkerAddress), then each entry of a transport this worker has. `local` is this
 * worker's own address: it says which transports are local and what their addresses look like.
 * Where the endpoint may get same-host lanes, entries UCX would reach must not aim it elsewhere: a
 * self entry naming this worker belongs to this worker's own address only, a posix FIFO must be a UCX
 * posix segment, all same-host entries must name one process, and if that is this process
 * (`probe.pid`, its System V segments) the address must be one of this thread's live workers'
 * (rememberOwnAddress).
 */
export function checkWorkerAddress(bytes: Uint8Array, local?: Uint8Array, options: AddressCheckOptions = {}): void {
  const parsed = parseWorkerAddress(bytes);
  const known = local === undefined ? null : localTransports(local);
  const context: EntryContext = {
    address: bytes,
    local: known,
    probe: options.probe ?? hostProbe,
    sameHostLanes: options.sameHostLanes ?? true,
    hostPids: new Map(),
  };
  const mdComponents = new Map<number, string>();
  for (const entry of parsed.entries) {
    checkEntry(entry, context);
    // One md belongs to one component: UCX keys remote-key unpacking by md index (ae_cmpts in wireup.c).
    if (entry.transport === null) continue;
    const component = IB_TRANSPORTS.has(entry.transport) ? 'ib' : entry.transport.startsWith('ugni') ? 'ugni' : entry.transport;
    const previous = mdComponents.get(entry.mdIndex);
    if (previous !== undefined && previous !== component) throw invalid(`md ${entry.mdIndex} claimed by both ${previous} and ${component}`);
    mdComponents.set(entry.mdIndex, component);
  }
  // A worker's posix FIFO, sysv FIFO and cma pid all name the process it runs in.
  if (context.hostPids.size > 1) {
    throw invalid(`same-host entries that name different processes (${[...context.hostPids].map(([pid, what]) => `${what}: pid ${pid}`).join(', ')})`);
  }
}
