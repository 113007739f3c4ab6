// objects.mjs: sendObject/recvObject send any structured-clonable value
// (v8.serialize): Map, Set, Date, BigInt, typed arrays, nested objects, cycles.
// Functions, symbols and class identity do not survive (plain objects come out).
//
// Run: node docs/examples/objects.mjs
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Context } from 'node-ucx';

const context = new Context();
const server = context.createWorker();
const client = context.createWorker();
const listener = await server.listen({ host: '127.0.0.1', port: 0 });
const [ep, [serverEp]] = await Promise.all([client.connect({ host: '127.0.0.1', port: listener.port }), once(listener, 'connection')]);

// Echo server: whatever object comes in goes back out.
const echo = (async () => {
  for (let i = 0; i < 2; i++) await serverEp.sendObject(await serverEp.recvObject());
})();

const order = {
  id: 2n ** 64n + 1n,
  placed: new Date('2024-05-01T12:00:00Z'),
  lines: new Map([
    ['apple', 3],
    ['pear', 1],
  ]),
  tags: new Set(['fresh', 'local']),
  weights: new Float64Array([0.5, 1.25]),
  note: null,
};
order.self = order; // cycles are fine

await ep.sendObject(order);
const back = await ep.recvObject();
assert.ok(back.placed instanceof Date && back.lines instanceof Map && back.tags instanceof Set);
assert.equal(back.self, back);
assert.deepEqual(back, order);
console.log('round trip:', back.id, back.placed.toISOString(), [...back.lines], [...back.tags], back.weights);

// Large values work too (the message goes by rendezvous).
const big = { rows: Array.from({ length: 50_000 }, (_, i) => ({ i, sq: BigInt(i) ** 2n })) };
await ep.sendObject(big);
assert.deepEqual(await ep.recvObject(), big);
console.log('50 000 rows round trip');

// Values structured clone cannot copy are refused before anything is sent.
await assert.rejects(ep.sendObject({ f() {} }), /could not be cloned/); // v8.serialize's Error
await echo;

await listener.close();
await client.close();
await server.close();
context.close();
