// Future: a handle on a task's result, which stays on the worker that computed it.
// `await future` (or future.result()) fetches it; the handle is reference counted
// with the other handles on the same key, and the cluster forgets the result once
// every handle is released or garbage collected.
import type { TaskFailedError, SchedulerError } from './errors.js';

/** Where a Future's task is: 'pending' (waiting or running), 'finished' (its result is held), 'error' (it failed), 'cancelled' (or released). */
export type FutureStatus = 'pending' | 'finished' | 'error' | 'cancelled';

/** What a Future needs of its Client (the client implements it; tests may too). */
export interface FutureOwner {
  /** The key's status and, once settled, its error. */
  statusOf(key: string): FutureStatus;
  /** Resolves once the key is finished (with its value), rejects once it erred or was cancelled. */
  resultOf(key: string, timeoutMs?: number): Promise<unknown>;
  /** Resolves once the key has settled, whatever the outcome. */
  settledOf(key: string): Promise<void>;
  errorOf(key: string): TaskFailedError | SchedulerError | null;
  cancel(keys: string[]): Promise<void>;
  /** One handle on `key` less. */
  unref(key: string): void;
}

const registry = new FinalizationRegistry<{ owner: FutureOwner; key: string }>(({ owner, key }) => owner.unref(key));

/** A handle on a task's result, which stays on the worker that computed it: `await future` fetches it; pass it to other tasks instead to keep it there. */
export class Future<T = unknown> implements PromiseLike<T> {
  /** The task's key (shared by every Future of the same task). */
  readonly key: string;
  readonly #owner: FutureOwner;
  #released = false;

  /** @internal Made by a Client, which counts one reference for each. */
  constructor(key: string, owner: FutureOwner) {
    this.key = key;
    this.#owner = owner;
    registry.register(this, { owner, key }, this);
  }

  /** Its task's status now, as the client last heard from the scheduler. */
  get status(): FutureStatus {
    return this.#released ? 'cancelled' : this.#owner.statusOf(this.key);
  }

  /** Whether it has settled (finished, erred or cancelled). */
  get done(): boolean {
    return this.status !== 'pending';
  }

  /** The result (fetched from its worker); rejects with the task's error (TaskFailedError, KilledWorker) or a SchedulerError. */
  result(opts: { timeoutMs?: number } = {}): Promise<T> {
    if (this.#released) return Promise.reject(releasedError(this.key));
    const pending = this.#owner.resultOf(this.key, opts.timeoutMs) as Promise<T>;
    // The handle stays reachable while its result is awaited (`await client.submit(f)` keeps only the
    // promise): collected meanwhile, it would release its key, and the result would never come.
    return pending.finally(() => reachable(this));
  }

  /** The error, once settled (null if it finished). */
  async exception(): Promise<Error | null> {
    await this.#owner.settledOf(this.key);
    return this.#owner.errorOf(this.key);
  }

  /** Cancels the task (and what depends on it); pending results reject with ERR_SCHEDULER_CANCELLED. */
  cancel(): Promise<void> {
    return this.#owner.cancel([this.key]);
  }

  /** Lets go of this handle now (instead of at garbage collection). Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    registry.unregister(this);
    this.#owner.unref(this.key);
  }

  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.result().then(onfulfilled, onrejected);
  }

  /** A short summary, not the client behind it. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Future <${this.key}> ${this.status}`;
  }
}

/** Does nothing: a closure that calls it keeps its argument alive. */
function reachable(_value: unknown): void {}

function releasedError(key: string): Error {
  return Object.assign(new Error(`the future of '${key}' was released`), { code: 'ERR_SCHEDULER_RELEASED' });
}
