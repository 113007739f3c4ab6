// What the UCX validators (ucx-address.ts, ucx-rkey.ts) look up about this host: this process's pid,
// System V segments (/proc/sysvipc/shm), file sizes (stat) and other processes' file descriptors
// (/proc/<pid>/fd). Tests hand the validators a fake one.
import fs from 'node:fs';

export interface HostProbe {
  /** This process's pid: shared memory it created is its own, not a peer's. */
  readonly pid: number;
  /** Size, creator and whether this process may attach it read-write, of System V segment `shmid`, or null when there is none. */
  sysvSegment(shmid: number): { size: number; creatorPid: number; attachable: boolean } | null;
  /** The size of the file at `path`, or null when this process cannot open it read-write. */
  fileSize(path: string): number | null;
  /** Whether the file at `path` is on hugetlbfs (MAP_HUGETLB fails on anything else). */
  onHugetlbfs(path: string): boolean;
  /** What file descriptor `fd` of process `pid` is (readlink /proc/<pid>/fd/<fd>), or null. */
  fdTarget(pid: number, fd: number): string | null;
}

/** A posix segment of UCX in procfs mode: created as <dir>/ucx_shm_posix_<hex>, then unlinked. */
const HUGETLBFS_MAGIC = 0x958458f6;

export const UCX_POSIX_SEGMENT = /\/ucx_shm_posix_[0-9a-f]+ \(deleted\)$/;

export const hostProbe: HostProbe = {
  pid: process.pid,
  sysvSegment(shmid) {
    let text: string;
    try {
      text = fs.readFileSync('/proc/sysvipc/shm', 'latin1');
    } catch {
      return null;
    }
    // key shmid perms(octal) size cpid lpid nattch uid gid cuid cgid ...
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 9 || Number(fields[1]) !== shmid) continue;
      const mode = parseInt(fields[2]!, 8);
      const [uid, gid] = [Number(fields[7]), Number(fields[8])];
      const myUid = process.getuid?.() ?? -1;
      const rw =
        myUid === 0
          ? true
          : uid === myUid
            ? (mode & 0o600) === 0o600
            : (process.getgroups?.() ?? []).includes(gid) || process.getgid?.() === gid
              ? (mode & 0o060) === 0o060
              : (mode & 0o006) === 0o006;
      return { size: Number(fields[3]), creatorPid: Number(fields[4]), attachable: rw };
    }
    return null;
  },
  fileSize(path) {
    try {
      fs.accessSync(path, fs.constants.R_OK | fs.constants.W_OK);
      return fs.statSync(path).size;
    } catch {
      return null;
    }
  },
  onHugetlbfs(path) {
    try {
      return fs.statfsSync(path).type === HUGETLBFS_MAGIC;
    } catch {
      return false;
    }
  },
  fdTarget(pid, fd) {
    try {
      return fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      return null;
    }
  },
};
