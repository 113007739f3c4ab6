// The optional PMIx binding (csrc/pmix/pmix.cc, built only where libpmix-dev is installed), loaded on
// first use, which bootstrap.ts makes only when the launcher serves PMIx (PMIX_NAMESPACE, PMIX_RANK).
// Without it, or with NODE_UCX_PMIX=0, the bootstrap takes its other paths (docs/mpi.md, "PMIx").
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { MPIError } from './errors.js';

interface PmixAddon {
  init(): { namespace: string; rank: number };
  put(key: string, value: Uint8Array): void;
  commit(): void;
  fence(timeoutSeconds: number): void;
  get(namespace: string, rank: number, key: string): Buffer;
  finalize(): void;
  abort(status: number, message: string): void;
  version: string;
}

export interface Pmix {
  readonly version: string;
  /** PMIx_Init: this process's namespace and rank. */
  init(): { namespace: string; rank: number };
  /** PMIx_Put(PMIX_GLOBAL) of a byte object. */
  put(key: string, value: Uint8Array): void;
  commit(): void;
  /** PMIx_Fence over the namespace, collecting the data (blocks this thread, at most `timeoutMs`). */
  fence(timeoutMs: number): void;
  get(namespace: string, rank: number, key: string): Buffer;
  finalize(): void;
  abort(status: number, message: string): void;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let cached: Pmix | null | undefined;

function wrap<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
  return (...args: A): R => {
    try {
      return fn(...args);
    } catch (error) {
      throw new MPIError('ERR_MPI_BOOTSTRAP', (error as Error).message, { cause: error });
    }
  };
}

/** The binding, or null (loadPmix.lastError says why) when it is not built or does not load. */
export function loadPmix(): Pmix | null {
  if (cached !== undefined) return cached;
  const file = process.env.NODE_UCX_PMIX_ADDON ?? path.join(root, 'build', 'Release', 'node_ucx_pmix.node');
  if (!fs.existsSync(file)) {
    loadPmix.lastError = `${path.relative(process.cwd(), file) || file} is not built`;
    cached = null;
    return cached;
  }
  try {
    const addon = createRequire(import.meta.url)(file) as PmixAddon;
    cached = {
      version: addon.version,
      init: wrap(() => addon.init()),
      put: wrap((key: string, value: Uint8Array) => addon.put(key, value)),
      commit: wrap(() => addon.commit()),
      fence: wrap((timeoutMs: number) => addon.fence(Math.max(1, Math.ceil(timeoutMs / 1000)))),
      get: wrap((namespace: string, rank: number, key: string) => addon.get(namespace, rank, key)),
      finalize: wrap(() => addon.finalize()),
      abort: wrap((status: number, message: string) => addon.abort(status, message)),
    };
  } catch (error) {
    loadPmix.lastError = `it does not load: ${(error as Error).message}`;
    cached = null;
  }
  return cached;
}

/** Why the last loadPmix() gave null. */
loadPmix.lastError = null as string | null;
