// Checks UCX's packed remote key (ucp_rkey_pack output, inside node-ucx's envelope: memory.ts) before
// ucp_ep_rkey_unpack sees it.
//
// UCX 1.13's ucp_ep_rkey_unpack (src/ucp/core/ucp_rkey.c) gets no length. It reads a 64-bit md map and
// a memory type byte, then a length byte and that many bytes per md in the map, and hands each part
// whose md the endpoint reaches to that md's component, which reads the fixed-size struct it packs
// (ignoring the length byte) and, for shared memory (posix, sysv, xpmem), maps the peer's segment into
// this process. A put or get then copies at mapping + (remote address - the key's base) unchecked.
//
// So a key is accepted only as a whole: the structure is walked with bounds checks; each part is kept
// only when the endpoint's own lanes say which component will unpack it (ucp_ep_print_info text,
// Endpoint.info()), and then must be exactly what that component packs; the envelope's region
// [base, base + length) must lie inside what a mapping component will map; a shared-memory part must
// attach (a failed attach crashes UCX 1.13's error path) and must not name this process's own memory
// unless this thread packed it. The bytes handed to UCX are rebuilt from the parts kept
// (docs/wire-format.md). Pure but for HostProbe's look-ups (ucx-host.ts).
import { UCXError, Status } from '../util/errors.js';
import { hostProbe, UCX_POSIX_SEGMENT, type HostProbe } from './ucx-host.js';

/** UCS_MEMORY_TYPE_LAST in UCX 1.13 (host, cuda, cuda-managed, rocm, rocm-managed). */
const MEMORY_TYPE_LAST = 5;
const U64_END = 1n << 64n;

export interface RkeyPart {
  mdIndex: number;
  bytes: Uint8Array;
}
export interface PackedRkey {
  memoryType: number;
  parts: RkeyPart[];
}

function invalid(reason: string): UCXError {
  return new UCXError(`not a packed node-ucx remote key: ${reason}`, 'UCS_ERR_INVALID_PARAM', Status.ERR_INVALID_PARAM);
}

/** Walks UCX's packed key (md map u64, memory type u8, then per md bit: size u8 and size bytes) to its exact end. */
export function parseRkey(bytes: Uint8Array): PackedRkey {
  if (bytes.length < 9) throw invalid(`UCX's key is ${bytes.length} bytes, shorter than its 9-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const mdMap = view.getBigUint64(0, true);
  const memoryType = bytes[8]!;
  if (memoryType >= MEMORY_TYPE_LAST) throw invalid(`UCX's key names memory type ${memoryType}`);
  const parts: RkeyPart[] = [];
  let offset = 9;
  for (let md = 0; md < 64; md++) {
    if (!((mdMap >> BigInt(md)) & 1n)) continue;
    if (offset >= bytes.length) throw invalid(`UCX's key ends before the part of md ${md}`);
    const size = bytes[offset++]!;
    if (offset + size > bytes.length) throw invalid(`UCX's key ends inside the ${size}-byte part of md ${md}`);
    parts.push({ mdIndex: md, bytes: bytes.subarray(offset, offset + size) });
    offset += size;
  }
  // ucp_rkey_pack never appends anything (the system-device trailer is for rendezvous keys only).
  if (offset !== bytes.length) throw invalid(`${bytes.length - offset} bytes after UCX's key`);
  return { memoryType, parts };
}

/**
 * The remote md index -> component map of an endpoint's lanes, from ucp_ep_print_info's lines
 * "lane[i]: <rsc>:<tl>/<dev>.<path> md[<local>] -> md[<remote>]/<component>/sysdev[<n>]". These are the
 * components ucp_ep_rkey_unpack uses (both call ucp_ep_config_get_dst_md_cmpt on the same config).
 */
export function endpointMdComponents(info: string): Map<number, string> {
  const components = new Map<number, string>();
  const lanes = new Set<number>();
  for (const line of info.split('\n')) {
    const lane = /^#\s+lane\[(\d+)\]:/.exec(line);
    if (lane === null) continue;
    // A lane printed twice would mean the text is not what UCX printed (the peer name is the only
    // peer-chosen string in it, at most 31 characters): trust none of it.
    if (lanes.has(Number(lane[1]))) throw invalid("the endpoint's description lists a lane twice");
    lanes.add(Number(lane[1]));
    const match = /^#\s+lane\[\d+\]:\s+\d+:\S+ md\[\d+\]\s+-> md\[(\d+)\]\/([A-Za-z0-9_]+)\/sysdev\[\d+\]/.exec(line);
    if (match === null) continue; // the connection manager's lane: no memory domain
    const md = Number(match[1]);
    if (md >= 64) continue;
    const previous = components.get(md);
    if (previous !== undefined && previous !== match[2]) throw invalid(`the endpoint reaches remote md ${md} through two components`);
    components.set(md, match[2]!);
  }
  return components;
}

/**
 * The shared-memory key parts this thread packed for its own live registrations (memory.ts calls
 * rememberOwnKey and forgetOwnKey). A key that names a segment of this process is accepted only when it
 * is one of these: otherwise a peer could have this process map its own FIFOs, or any file it has open,
 * and write into them.
 */
const ownParts = new Map<string, Set<object>>();
const ownPartsByHandle = new WeakMap<object, Set<string>>();

/** The part of a posix or sysv key that names the segment (posix's trailer bytes are not written). */
function ownPartId(component: 'posix' | 'sysv', part: Uint8Array): string {
  return `${component}:${Buffer.from(part.subarray(0, component === 'posix' ? 24 : 12)).toString('hex')}`;
}

/** Records the shared-memory parts of a key `handle` packed (MemoryHandle.packRkey). */
export function rememberOwnKey(handle: object, ucxKey: Uint8Array): void {
  let key: PackedRkey;
  try {
    key = parseRkey(ucxKey);
  } catch {
    return;
  }
  let ids = ownPartsByHandle.get(handle);
  if (ids === undefined) ownPartsByHandle.set(handle, (ids = new Set()));
  for (const part of key.parts) {
    // By shape: 12 bytes is a sysv key, 24 or more a posix one (recording a non-match is harmless).
    const id = part.bytes.length === 12 ? ownPartId('sysv', part.bytes) : part.bytes.length >= 24 ? ownPartId('posix', part.bytes) : null;
    if (id === null) continue;
    ids.add(id);
    let holders = ownParts.get(id);
    if (holders === undefined) ownParts.set(id, (holders = new Set()));
    holders.add(handle);
  }
}

/** Forgets what rememberOwnKey recorded for `handle` (MemoryHandle.unmap). */
export function forgetOwnKey(handle: object): void {
  for (const id of ownPartsByHandle.get(handle) ?? []) {
    const holders = ownParts.get(id);
    holders?.delete(handle);
    if (holders?.size === 0) ownParts.delete(id);
  }
  ownPartsByHandle.delete(handle);
}

function requireOwn(component: 'posix' | 'sysv', part: Uint8Array, what: string): void {
  if (!ownParts.has(ownPartId(component, part))) {
    throw invalid(`the ${component} key names ${what} of this process that this thread has not registered`);
  }
}

export interface RemoteKeyCheck {
  /** The envelope's memory type (ucs_memory_type_t) and region. */
  memoryType: number;
  base: bigint;
  length: bigint;
  /** The endpoint's ucp_ep_print_info text (NativeEndpoint.info()). */
  endpointInfo: string;
  probe?: HostProbe;
}

function u64(view: DataView, offset: number): bigint {
  return view.getBigUint64(offset, true);
}

/** The envelope's region must lie inside [start, start + size): the mapping a put or get indexes. */
function requireInside(check: RemoteKeyCheck, component: string, start: bigint, size: bigint): void {
  if (size <= 0n || start + size > U64_END) throw invalid(`the ${component} key describes an empty or wrapping region`);
  if (check.base < start || check.base + check.length > start + size) {
    throw invalid(
      `the region [0x${check.base.toString(16)}, +${check.length}) is not inside the ${component} ` +
        `segment [0x${start.toString(16)}, +${size}) that the key maps`,
    );
  }
}

const POSIX_SEG_FLAG_PROCFS = 1n << 63n;
const POSIX_SEG_FLAG_SHM_OPEN = 1n << 62n;
const POSIX_SEG_FLAG_HUGETLB = 1n << 61n;
const POSIX_SEG_FLAG_PID_NS = 1n << 60n;
const HUGE_PAGE = 2n << 20n;
const POSIX_MMID_MASK = (1n << 60n) - 1n;

function alignUp(value: bigint, to: bigint): bigint {
  return ((value + to - 1n) / to) * to;
}

/** uct_posix_packed_rkey_t: seg_id (flags + mmid), address, length, then the directory in file mode. */
function checkPosixKey(part: Uint8Array, check: RemoteKeyCheck, probe: HostProbe): void {
  if (part.length < 24) throw invalid(`a posix key of ${part.length} bytes`);
  const view = new DataView(part.buffer, part.byteOffset, part.byteLength);
  const segId = u64(view, 0);
  const address = u64(view, 8);
  const size = u64(view, 16);
  const mmid = segId & POSIX_MMID_MASK;
  const extra = part.subarray(24);
  let path: string;
  if (segId & POSIX_SEG_FLAG_PROCFS) {
    // The md packs its iface address length after the key (8 bytes in a pid namespace) but writes nothing there.
    if (extra.length !== 0 && extra.length !== 8) throw invalid(`a posix procfs key of ${part.length} bytes`);
    const pid = Number(mmid & 0x3fffffffn);
    const fd = Number(mmid >> 30n);
    path = `/proc/${pid}/fd/${fd}`;
    if (pid === probe.pid) requireOwn('posix', part, `file descriptor ${fd}`);
    // rkey_unpack opens it read-write and maps it: it must be a UCX posix segment, not any file of any process.
    if (!UCX_POSIX_SEGMENT.test(probe.fdTarget(pid, fd) ?? '')) throw invalid(`the posix key names ${path}, which is not a UCX posix segment`);
  } else if (segId & POSIX_SEG_FLAG_PID_NS) {
    throw invalid('a posix key with the pid-namespace flag but not procfs');
  } else if (segId & POSIX_SEG_FLAG_SHM_OPEN) {
    if (extra.length !== 0) throw invalid(`a posix shm_open key of ${part.length} bytes`);
    path = `/dev/shm/ucx_shm_posix_${mmid.toString(16)}`;
  } else {
    // uct_posix_rkey_unpack formats "%s/ucx_shm_posix_%x" from this string: it must end in its NUL.
    if (extra.length < 2 || extra[extra.length - 1] !== 0 || extra.subarray(0, -1).includes(0)) {
      throw invalid('a posix key whose directory is not one NUL-terminated string');
    }
    path = `${Buffer.from(extra.subarray(0, -1)).toString('latin1')}/ucx_shm_posix_${mmid.toString(16)}`;
  }
  requireInside(check, 'posix', address, size);
  // UCX 1.13 crashes when an attach fails inside ucp_ep_rkey_unpack (its error path releases the
  // failed part's uninitialized handle), so what would make open() or mmap() fail is refused here:
  // a file this process cannot open read-write, a length far past the file's end (mmap of more than
  // the address space), MAP_HUGETLB off hugetlbfs. Pages past the end of the file raise SIGBUS on
  // access: the file must hold the region now.
  const fileSize = probe.fileSize(path);
  if (fileSize === null) throw invalid(`the posix segment ${path} cannot be opened read-write`);
  if (size > alignUp(BigInt(fileSize), HUGE_PAGE)) throw invalid(`the posix key maps ${size} bytes of the ${fileSize}-byte ${path}`);
  if (BigInt(fileSize) < check.base - address + check.length) {
    throw invalid(`the posix segment ${path} holds ${fileSize} bytes, fewer than the region needs`);
  }
  if (segId & POSIX_SEG_FLAG_HUGETLB && !probe.onHugetlbfs(path)) throw invalid(`the posix key asks for huge pages of ${path}, which is not on hugetlbfs`);
}

/** uct_sysv_packed_rkey_t: shmid u32, owner_ptr: shmat maps the whole segment, whose size the key does not say. */
function checkSysvKey(part: Uint8Array, check: RemoteKeyCheck, probe: HostProbe): void {
  if (part.length !== 12) throw invalid(`a sysv key of ${part.length} bytes (12)`);
  const view = new DataView(part.buffer, part.byteOffset, part.byteLength);
  const shmid = view.getInt32(0, true);
  const owner = u64(view, 4);
  const segment = shmid < 0 ? null : probe.sysvSegment(shmid);
  if (segment === null) throw invalid(`System V segment ${shmid} does not exist`);
  // A failing shmat inside ucp_ep_rkey_unpack crashes UCX 1.13 (see checkPosixKey).
  if (!segment.attachable) throw invalid(`System V segment ${shmid} is not this process's to attach read-write`);
  if (segment.creatorPid === probe.pid) requireOwn('sysv', part, `System V segment ${shmid}`);
  requireInside(check, 'sysv', owner, BigInt(segment.size));
}

/** What each component's rkey_unpack reads (md_attr.rkey_packed_size in UCX 1.13), and its region check. */
const COMPONENTS: Record<string, (part: Uint8Array, check: RemoteKeyCheck, probe: HostProbe) => void> = {
  // Stub unpackers that read nothing: self and gdr_copy reach only this worker, cma and tcp the peer's process.
  self: exactly(0),
  tcp: exactly(0),
  cma: exactly(0),
  cuda_cpy: exactly(0),
  // An IB rkey (u64) and knem's cookie + address, ugni's 3 words: the HCA or kernel checks the access.
  ib: exactly(8),
  knem: exactly(16),
  ugni: exactly(24),
  gdr_copy: exactly(24),
  posix: checkPosixKey,
  sysv: checkSysvKey,
  xpmem(part, check) {
    // uct_xpmem_packed_rkey_t: segid, address, length (attached as given).
    if (part.length !== 24) throw invalid(`an xpmem key of ${part.length} bytes (24)`);
    const view = new DataView(part.buffer, part.byteOffset, part.byteLength);
    requireInside(check, 'xpmem', u64(view, 8), u64(view, 16));
  },
  cuda_ipc(part, check) {
    // uct_cuda_ipc_key_t (not packed): handle[64], pid @64, d_bptr @72, b_len @80, dev_num @88, uuid[16] @92.
    if (part.length !== 112) throw invalid(`a cuda_ipc key of ${part.length} bytes (112)`);
    const view = new DataView(part.buffer, part.byteOffset, part.byteLength);
    requireInside(check, 'cuda_ipc', u64(view, 72), u64(view, 80));
  },
};

function exactly(size: number): (part: Uint8Array) => void {
  return (part) => {
    if (part.length !== size) throw invalid(`a ${part.length}-byte key part where its component packs ${size}`);
  };
}

/**
 * Checks UCX's packed key against the envelope and the endpoint, and returns the bytes to hand
 * ucp_ep_rkey_unpack: the key with only the parts of the mds the endpoint's lanes reach (the only ones
 * RMA uses), each checked for its component. Throws UCXError 'UCS_ERR_INVALID_PARAM' otherwise.
 */
export function checkRemoteKey(ucxKey: Uint8Array, check: RemoteKeyCheck): Buffer {
  const key = parseRkey(ucxKey);
  if (key.memoryType !== check.memoryType) throw invalid(`UCX's key says memory type ${key.memoryType}, the envelope ${check.memoryType}`);
  const components = endpointMdComponents(check.endpointInfo);
  const probe = check.probe ?? hostProbe;
  const kept: RkeyPart[] = [];
  for (const part of key.parts) {
    const component = components.get(part.mdIndex);
    if (component === undefined) continue; // no lane of this endpoint uses the md: UCX would unpack it with a component we cannot name
    const checkPart = COMPONENTS[component];
    if (checkPart === undefined) throw invalid(`the endpoint would unpack md ${part.mdIndex} with component '${component}', which node-ucx does not check`);
    checkPart(part.bytes, check, probe);
    kept.push(part);
  }
  let mdMap = 0n;
  let size = 9;
  for (const part of kept) {
    mdMap |= 1n << BigInt(part.mdIndex);
    size += 1 + part.bytes.length;
  }
  const out = Buffer.allocUnsafe(size);
  out.writeBigUInt64LE(mdMap, 0);
  out[8] = key.memoryType;
  let offset = 9;
  for (const part of kept) {
    out[offset++] = part.bytes.length;
    out.set(part.bytes, offset);
    offset += part.bytes.length;
  }
  return out;
}
