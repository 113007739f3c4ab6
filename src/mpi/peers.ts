// A connection to one peer process, made on first use, that keeps its users' operations in call order.
//
// While the connection is being made, operations wait in a queue; when it is up, the endpoint is stored
// and the queue is run in the same synchronous step, so no operation issued meanwhile (say, from a
// microtask that was already waiting) can reach the endpoint ahead of those queued before it.
// Pure: the endpoint type is a parameter, and connect() is whatever makes one (unit-tested alone).

export class LazyPeer<E> {
  readonly #connect: () => Promise<E>;
  #endpoint: E | null = null;
  /** Operations waiting for the connection, in call order; null when no connection is being made. */
  #queue: ((endpoint: E | null, error?: unknown) => void)[] | null = null;

  constructor(connect: () => Promise<E>) {
    this.#connect = connect;
  }

  /** The endpoint, once connected. */
  get endpoint(): E | null {
    return this.#endpoint;
  }

  /**
   * Runs `operation` with the endpoint: now, when connected; otherwise once connected, after every
   * operation that asked before it. A failed connection rejects the queued operations; the next use tries again.
   */
  use<T>(operation: (endpoint: E) => Promise<T>): Promise<T> {
    const endpoint = this.#endpoint;
    if (endpoint !== null) return operation(endpoint);
    return new Promise<T>((resolve, reject) => {
      const run = (ready: E | null, error?: unknown): void => {
        if (ready === null) {
          reject(error);
          return;
        }
        try {
          operation(ready).then(resolve, reject);
        } catch (thrown) {
          reject(thrown);
        }
      };
      if (this.#queue !== null) {
        this.#queue.push(run);
        return;
      }
      this.#queue = [run];
      let connecting: Promise<E>;
      try {
        connecting = this.#connect();
      } catch (error) {
        connecting = Promise.reject(error);
      }
      connecting.then(
        (ready) => {
          // Store, then drain, in one step: an operation that asks from now on runs after the queued ones.
          this.#endpoint = ready;
          const queue = this.#queue!;
          this.#queue = null;
          for (const queued of queue) queued(ready);
        },
        (error: unknown) => {
          const queue = this.#queue!;
          this.#queue = null;
          for (const queued of queue) queued(null, error);
        },
      );
    });
  }

  /** Forgets the endpoint (it failed or was closed): the next use connects again. */
  reset(): void {
    this.#endpoint = null;
  }
}
