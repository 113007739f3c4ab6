// abort.mjs: cancelling receives with an AbortSignal. An aborted receive
// rejects with AbortError (name 'AbortError', code 'ABORT_ERR', cause = the
// signal's reason); the UCX request is cancelled, so a later message goes to
// the next receive, and the endpoint stays usable.
//
// Run: node docs/examples/abort.mjs
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Context, AbortError } from 'node-ucx';

const context = new Context();
const server = context.createWorker();
const client = context.createWorker();
const listener = await server.listen({ host: '127.0.0.1', port: 0 });
const [ep, [serverEp]] = await Promise.all([client.connect({ host: '127.0.0.1', port: listener.port }), once(listener, 'connection')]);

// 1. A timeout: nothing is sent, so the receive gives up after 100 ms.
const started = Date.now();
const error = await serverEp.recvMessage({ signal: AbortSignal.timeout(100) }).catch((e) => e);
assert.ok(error instanceof AbortError);
assert.equal(error.name, 'AbortError');
assert.equal(error.code, 'ABORT_ERR');
assert.equal(error.cause.name, 'TimeoutError'); // the signal's reason
console.log(`recvMessage: ${error.name} (${error.code}) after ${Date.now() - started} ms, cause: ${error.cause.name}`);

// 2. The endpoint is still fine: the next message lands in the next receive.
const next = serverEp.recv(Buffer.alloc(16));
await ep.send(Buffer.from('still here'));
assert.equal(await next, 10);
console.log('after the abort, recv got', await next, 'bytes');

// 3. An AbortController with a reason of your own, on a raw tag receive.
const controller = new AbortController();
const pending = server.tagRecv(Buffer.alloc(16), 42n, undefined, { signal: controller.signal });
controller.abort(new Error('shutting down'));
await assert.rejects(pending, (e) => e instanceof AbortError && e.cause.message === 'shutting down');
console.log('tagRecv: aborted with the reason "shutting down"');

// 4. An already-aborted signal rejects at once; nothing is posted to UCX.
await assert.rejects(ep.recvMessage({ signal: AbortSignal.abort() }), { name: 'AbortError', code: 'ABORT_ERR' });
// connect() takes a signal too.
await assert.rejects(client.connect({ host: '127.0.0.1', port: listener.port }, { signal: AbortSignal.abort() }), { code: 'ABORT_ERR' });
console.log('pre-aborted signals reject at once');

await listener.close();
await client.close();
await server.close();
context.close();
