// RpcPool: the connections of one process to its peers, one per peer: get(address)
// joins the peer at `address` the first time (concurrent gets share the attempt)
// and returns the same RpcPeer afterwards; a peer that joined us (adopt) serves our
// calls to it too, so two processes that call each other share one connection.
import { connectRpc, type ConnectRpcOptions } from './server.js';
import type { RpcPeer } from './peer.js';

export class RpcPool {
  readonly #opts: ConnectRpcOptions;
  readonly #peers = new Map<string, RpcPeer | Promise<RpcPeer>>();
  #closed = false;

  constructor(opts: ConnectRpcOptions) {
    this.#opts = opts;
  }

  /** The peer whose name (listen address) is `address`, joined now if need be. */
  get(address: string): Promise<RpcPeer> {
    if (this.#closed) return Promise.reject(new Error('the pool is closed'));
    const known = this.#peers.get(address);
    if (known !== undefined) return Promise.resolve(known);
    const joining = connectRpc(address, this.#opts).then(
      (peer) => {
        if (this.#closed) {
          peer.abort();
          throw new Error('the pool is closed');
        }
        this.#track(address, peer);
        return peer;
      },
      (error: unknown) => {
        this.#peers.delete(address);
        throw error;
      },
    );
    this.#peers.set(address, joining);
    return joining;
  }

  /** A peer that joined this process and named itself `peer.name`: later get(peer.name) use it. */
  adopt(peer: RpcPeer): void {
    if (this.#closed || this.#peers.has(peer.name)) return;
    this.#track(peer.name, peer);
  }

  /** Forgets (and aborts) the connection to `address`, e.g. after that peer was reported dead. */
  drop(address: string): void {
    const known = this.#peers.get(address);
    this.#peers.delete(address);
    if (known !== undefined && !(known instanceof Promise)) known.abort();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const peers = [...this.#peers.values()];
    this.#peers.clear();
    await Promise.all(
      peers.map(async (entry) => {
        const peer = await Promise.resolve(entry).catch(() => undefined);
        await peer?.close();
      }),
    );
  }

  #track(address: string, peer: RpcPeer): void {
    this.#peers.set(address, peer);
    peer.once('close', () => {
      if (this.#peers.get(address) === peer) this.#peers.delete(address);
    });
  }
}
