// The bootstrap thread: each rank's connection to the rendezvous store (and, on rank 0 when no launcher
// serves it, the store itself) lives in a worker thread, so that heartbeats flow while the rank's main
// thread computes. A rank that is stopped (SIGSTOP), or whose host or link is gone, falls silent; a rank
// that is merely busy does not. Started by store-link.ts; speaks to it by postMessage:
//
//   main → thread   {type:'exchange', id, name, value, timeoutMs} · {type:'finalize', ms} · {type:'abort', code, reason} · {type:'close'}
//   thread → main   {type:'serving', urls} · {type:'joined', server} · {type:'failed', error}
//                   {type:'exchanged', id, values} · {type:'exchange-failed', id, error} · {type:'finalized', released}
//                   {type:'abort', code, reason} · {type:'lost', reason}
//
// When the job must end and the main thread does not end the process within killGraceMs (it is stuck in
// a long computation), this thread says why on stderr and kills the process.
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { KvClient, KvServer, type Liveness } from './kvstore.js';
import type { MPIError } from './errors.js';

export interface StoreThreadData {
  /** Rank 0 serves the store itself (no launcher does). */
  serve: { size: number; secret: string | null; host: string; port: number; advertise: string[] } | null;
  /** Where the store is; null: the one this thread serves. */
  urls: string[] | null;
  secret: string | null;
  rank: number;
  size: number;
  timeoutMs: number;
  hint: string;
  liveness: Liveness;
  killGraceMs: number;
}

type ToThread =
  | { type: 'exchange'; id: number; name: string; value: Uint8Array; timeoutMs: number }
  | { type: 'finalize'; ms: number }
  | { type: 'abort'; code: number; reason: string }
  | { type: 'close' };

function errorOf(error: unknown): { message: string; code?: string } {
  return { message: (error as Error)?.message ?? String(error), code: (error as MPIError)?.code };
}

async function main(): Promise<void> {
  const data = workerData as StoreThreadData;
  const port = parentPort!;
  let server: KvServer | null = null;
  let killTimer: NodeJS.Timeout | undefined;
  const ending = (line: string): void => {
    if (killTimer !== undefined) return;
    killTimer = setTimeout(() => {
      try {
        fs.writeSync(2, `[node-ucx mpi] rank ${data.rank}: ${line}; the main thread did not end the process within ${data.killGraceMs} ms: killing it\n`);
      } catch {
        // stderr is gone
      }
      process.kill(process.pid, 'SIGKILL');
    }, data.killGraceMs);
  };

  if (data.serve !== null) {
    try {
      server = await KvServer.start(
        {
          ...data.serve,
          served: 'rank 0',
          liveness: data.liveness,
          abortOnGone: true,
        },
        data.serve.advertise,
      );
    } catch (error) {
      port.postMessage({ type: 'failed', error: errorOf(error) });
      return;
    }
    port.postMessage({ type: 'serving', urls: server.urls });
  }
  const urls = data.urls ?? [`tcp://127.0.0.1:${server!.port}`];
  let client: KvClient;
  try {
    client = await KvClient.connect(urls, { secret: data.secret, rank: data.rank, size: data.size, timeoutMs: data.timeoutMs, hint: data.hint });
  } catch (error) {
    await server?.close();
    port.postMessage({ type: 'failed', error: errorOf(error) });
    return;
  }
  client.onAbort((code, reason) => {
    port.postMessage({ type: 'abort', code, reason });
    ending(reason);
  });
  client.onLost((reason) => {
    port.postMessage({ type: 'lost', reason });
    ending(reason);
  });
  port.postMessage({ type: 'joined', server: client.server });

  port.on('message', (message: ToThread) => {
    switch (message.type) {
      case 'exchange':
        client.exchange(message.name, Buffer.from(message.value.buffer, message.value.byteOffset, message.value.byteLength), message.timeoutMs).then(
          (values) => port.postMessage({ type: 'exchanged', id: message.id, values }),
          (error: unknown) => port.postMessage({ type: 'exchange-failed', id: message.id, error: errorOf(error) }),
        );
        break;
      case 'finalize':
        void (async () => {
          const released = await client.finalize(message.ms);
          if (server !== null) {
            // Rank 0 keeps the store until every rank has heard 'released' and gone.
            await server.waitAllGone(5_000);
            await server.close();
          }
          port.postMessage({ type: 'finalized', released });
          port.close();
        })();
        break;
      case 'abort':
        void client.abort(message.code, message.reason).then(async () => {
          if (server !== null) await server.waitAllGone(2_000);
        });
        break;
      case 'close':
        client.close();
        void server?.close();
        port.close();
        break;
    }
  });
}

void main();
