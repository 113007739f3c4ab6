// worker-address.mjs: connecting by worker address instead of host:port. A
// Worker's address (worker.address, a Buffer of some hundred bytes) is handed
// to the peer by any channel you like (here: in-process; in real programs a
// file, an HTTP call, MPI, ...); no listener is needed. The connected-to side
// receives raw tags on its Worker, and gets an Endpoint through the Worker's
// 'connection' event when the peer starts endpoint-scoped messaging.
//
// Run: node docs/examples/worker-address.mjs
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Context } from 'node-ucx';

const context = new Context();
const server = context.createWorker({ acceptAddressConnections: true }); // address peers are opt-in
const client = context.createWorker();

// The server publishes its address.
const address = server.address;
console.log(`server address: ${address.length} bytes, ${address.toString('base64').slice(0, 24)}...`);

const ep = await client.connect({ address });
assert.equal(ep.role, 'address');
console.log('client endpoint:', ep.role, ep.peer, ep.info().transports);

// Raw tags reach the server's Worker like from any other endpoint.
const tagged = server.tagRecv(Buffer.alloc(32), 7n);
await ep.tagSend(Buffer.from('by address'), 7n);
assert.deepEqual(await tagged, { length: 10, tag: 7n });
console.log('raw tag: ok');

// The client's first endpoint-scoped send introduces it: the server Worker emits
// 'connection' with an Endpoint back to the client (role 'reply').
const introduced = once(server, 'connection');
await ep.send(Buffer.from('ping'));
const [back] = await introduced;
assert.equal(back.role, 'reply');
assert.equal((await back.recvMessage()).toString(), 'ping');

// Endpoint-scoped messages now go both ways.
const fromServer = ep.recvObject();
await back.sendObject({ pong: true, n: 42n });
assert.deepEqual(await fromServer, { pong: true, n: 42n });
console.log('client got:', await fromServer);

// Or the two sides swap addresses and each connects to the other.
const toClient = await server.connect({ address: client.address });
const raw = client.tagRecv(Buffer.alloc(8), 8n);
await toClient.tagSend(Buffer.from('pong'), 8n);
assert.equal((await raw).length, 4);
console.log('server -> client over its own address endpoint: ok');

await client.close();
await server.close();
context.close();
