// worker-threads.mjs: node-ucx in worker_threads. Each thread loads the addon
// and makes its own Context and Worker; two threads talk to each other over
// loopback, then shut down and exit on their own (no terminate() needed).
//
// Run: node docs/examples/worker-threads.mjs
import assert from 'node:assert/strict';
import { Worker as Thread, isMainThread, parentPort, workerData, threadId } from 'node:worker_threads';
import { once } from 'node:events';
import { Context } from 'node-ucx';

if (isMainThread) {
  const server = new Thread(new URL(import.meta.url), { workerData: { role: 'server' } });
  const serverExit = once(server, 'exit'); // listen now: the thread may exit before we await it
  const [port] = await once(server, 'message');
  const client = new Thread(new URL(import.meta.url), { workerData: { role: 'client', port } });
  const clientExit = once(client, 'exit');
  const [summary] = await once(client, 'message');
  console.log('client thread says:', summary);
  const [[serverCode], [clientCode]] = await Promise.all([serverExit, clientExit]);
  assert.equal(serverCode, 0);
  assert.equal(clientCode, 0);
  console.log('both threads exited with code 0');
} else if (workerData.role === 'server') {
  const context = new Context();
  const worker = context.createWorker();
  const listener = await worker.listen({ host: '127.0.0.1', port: 0 });
  const accepted = once(listener, 'connection');
  parentPort.postMessage(listener.port);
  const [ep] = await accepted;
  await listener.close(); // one client is enough
  // Serve until the client hangs up: its close shows up here as an 'error'
  // event (UCS_ERR_CONNECTION_RESET), then 'close'.
  ep.on('error', (error) => console.log(`server thread: peer gone (${error.code})`));
  const closed = new Promise((resolve) => ep.once('close', resolve));
  for (;;) {
    const request = await ep.recvObject().catch(() => null);
    if (request === null) break;
    await ep.sendObject({ from: threadId, square: request.n * request.n });
  }
  await closed;
  await worker.close();
  context.close();
} else {
  const context = new Context();
  const worker = context.createWorker();
  const ep = await worker.connect({ host: '127.0.0.1', port: workerData.port });
  const squares = [];
  for (let n = 1n; n <= 5n; n++) {
    await ep.sendObject({ n });
    const reply = await ep.recvObject();
    assert.notEqual(reply.from, threadId);
    squares.push(reply.square);
  }
  assert.deepEqual(squares, [1n, 4n, 9n, 16n, 25n]);
  await ep.close();
  await worker.close();
  context.close();
  parentPort.postMessage(`thread ${threadId} got squares ${squares.join(', ')}`);
}
