// progress-modes.mjs: the same ping-pong in the three progress modes.
//   event     (default) sleep on the worker's event fd; idle CPU ~0
//   poll      spin ucp_worker_progress while operations are outstanding:
//             lowest latency, burns a core
//   adaptive  spin for a short while (defaults.adaptiveSpinUs) after
//             activity, then sleep
// The pong side runs in a worker thread (its own event loop, its own Context),
// so each side can spin without starving the other. Timings are indicative:
// with the default errorHandling 'peer', UCX 1.13 runs even local traffic over
// TCP.
//
// Run: node docs/examples/progress-modes.mjs [iterations]    (default 2000)
import assert from 'node:assert/strict';
import { Worker as Thread, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { once } from 'node:events';
import { Context } from 'node-ucx';

const WARMUP = 100;

if (isMainThread) {
  const iterations = Number(process.argv[2] ?? 2000);
  const results = [];
  for (const progress of ['event', 'poll', 'adaptive']) {
    const thread = new Thread(new URL(import.meta.url), { workerData: { progress, count: WARMUP + iterations } });
    const exited = once(thread, 'exit');
    const [port] = await once(thread, 'message');

    const context = new Context();
    const worker = context.createWorker({ progress });
    assert.equal(worker.progressMode, progress);
    const ep = await worker.connect({ host: '127.0.0.1', port });
    const message = Buffer.alloc(64, 1);
    const reply = Buffer.alloc(64);
    let start = 0n;
    for (let i = 0; i < WARMUP + iterations; i++) {
      if (i === WARMUP) start = process.hrtime.bigint();
      const received = ep.recv(reply); // post the receive before sending
      await ep.send(message);
      assert.equal(await received, 64);
    }
    const rttUs = Number(process.hrtime.bigint() - start) / iterations / 1000;
    results.push({ mode: progress, 'round trip (µs)': Number(rttUs.toFixed(1)), transports: ep.info().transports.join(' ') });

    await worker.close();
    context.close();
    const [code] = await exited;
    assert.equal(code, 0);
  }
  console.table(results);
} else {
  // Pong: echo `count` 64-byte messages on the first connection, then leave.
  const { progress, count } = workerData;
  const context = new Context();
  const worker = context.createWorker({ progress });
  const listener = await worker.listen({ host: '127.0.0.1', port: 0 });
  const accepted = once(listener, 'connection');
  parentPort.postMessage(listener.port);
  const [ep] = await accepted;
  await listener.close();
  const buffer = Buffer.alloc(64);
  for (let i = 0; i < count; i++) {
    const length = await ep.recv(buffer);
    await ep.send(buffer.subarray(0, length));
  }
  await worker.close();
  context.close();
}
