// Cancellation and deadlines for promises: AbortSignal wiring and a bounded wait,
// the same way for every operation of the core API.
import { AbortError, isCanceled, timeoutError } from './errors.js';

export function abortedError(signal: AbortSignal): AbortError {
  return new AbortError(undefined, { cause: signal.reason });
}

/** Settles `promise` as it settles, or rejects with AbortError once `signal` aborts (after cancelling the UCX request). */
export function withAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined, cancel: () => void): Promise<T> {
  if (signal === undefined) return promise;
  const onAbort = (): void => cancel();
  signal.addEventListener('abort', onAbort, { once: true });
  return promise.then(
    (value) => {
      signal.removeEventListener('abort', onAbort);
      return value;
    },
    (error: unknown) => {
      signal.removeEventListener('abort', onAbort);
      if (signal.aborted && isCanceled(error)) throw new AbortError(undefined, { cause: signal.reason });
      throw error;
    },
  );
}

/** Awaits `promise`, bounded by `ms` (a coded UCS_ERR_TIMED_OUT naming `what`) and by `signal`. */
export function deadline<T>(promise: Promise<T>, ms: number, what: string, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => finish(() => reject(timeoutError(what, ms))), ms);
    const onAbort = (): void => finish(() => reject(abortedError(signal!)));
    signal?.addEventListener('abort', onAbort, { once: true });
    let done = false;
    function finish(settle: () => void): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      settle();
    }
    promise.then(
      (value) => finish(() => resolve(value)),
      (error: unknown) => finish(() => reject(error)),
    );
  });
}
