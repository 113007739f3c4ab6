// The receive side every Connection shares: arrived messages wait here for
// recv(); recv()s wait here for messages. Once the connection ends, what
// arrived before is still handed out (when the peer went away) or dropped
// (when this side closed), and then every recv() rejects with the reason.
import { TransportAbortError, type TransportError } from './types.js';

interface Waiter {
  resolve: (message: Buffer[]) => void;
  reject: (error: unknown) => void;
  cleanup: () => void;
}

export class Inbox {
  #queue: Buffer[][] = [];
  #head = 0;
  #bytes = 0;
  #waiters: Waiter[] = [];
  #ended: TransportError | undefined;
  #onDrain: (() => void) | undefined;
  /** Above either mark the producer should stop reading until the consumer catches up. */
  readonly highWaterMessages: number;
  readonly highWaterBytes: number;

  constructor(highWaterMessages = 4096, highWaterBytes = 256 << 20) {
    this.highWaterMessages = highWaterMessages;
    this.highWaterBytes = highWaterBytes;
  }

  get ended(): boolean {
    return this.#ended !== undefined;
  }
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /** Whether the producer should pause (call waitDrain()). */
  get full(): boolean {
    return this.queued >= this.highWaterMessages || this.#bytes >= this.highWaterBytes;
  }

  /** Resolves once the queue is below half of the high-water marks (or the inbox ended). */
  waitDrain(): Promise<void> {
    if (!this.full || this.#ended) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#onDrain = resolve;
    });
  }

  push(message: Buffer[]): void {
    if (this.#ended) return;
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter.cleanup();
      waiter.resolve(message);
      return;
    }
    this.#queue.push(message);
    for (const frame of message) this.#bytes += frame.length;
  }

  /** Ends the inbox. `keepQueued`: messages that arrived before are still delivered, then `error`. */
  end(error: TransportError, keepQueued: boolean): void {
    if (this.#ended) return;
    this.#ended = error;
    if (!keepQueued) {
      this.#queue = [];
      this.#head = 0;
      this.#bytes = 0;
    }
    for (const waiter of this.#waiters.splice(0)) {
      waiter.cleanup();
      waiter.reject(error);
    }
    this.#wakeProducer();
  }

  take(signal: AbortSignal | undefined): Promise<Buffer[]> {
    if (this.#head < this.#queue.length) {
      const message = this.#queue[this.#head]!;
      this.#queue[this.#head++] = undefined as unknown as Buffer[];
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      for (const frame of message) this.#bytes -= frame.length;
      if (this.#onDrain !== undefined && this.queued * 2 <= this.highWaterMessages && this.#bytes * 2 <= this.highWaterBytes) {
        this.#wakeProducer();
      }
      return Promise.resolve(message);
    }
    if (this.#ended) return Promise.reject(this.#ended);
    if (signal?.aborted) return Promise.reject(new TransportAbortError({ cause: signal.reason }));
    return new Promise<Buffer[]>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, cleanup: () => {} };
      if (signal !== undefined) {
        const onAbort = (): void => {
          const index = this.#waiters.indexOf(waiter);
          if (index >= 0) this.#waiters.splice(index, 1);
          reject(new TransportAbortError({ cause: signal.reason }));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        waiter.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      this.#waiters.push(waiter);
    });
  }

  #wakeProducer(): void {
    const wake = this.#onDrain;
    this.#onDrain = undefined;
    wake?.();
  }
}
