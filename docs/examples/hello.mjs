// hello.mjs: the README's 10-line example. listen() and connect() use the
// default worker (a lazily created Context + event-mode Worker); one object
// goes each way with sendObject/recvObject (structured clone: BigInt and Date
// survive). Closing the listener lets the process exit.
//
// Run: node docs/examples/hello.mjs      (prints { answer: 42n, at: <date> })
import { listen, connect } from 'node-ucx';

const listener = await listen({ host: '127.0.0.1', port: 0 }, async (ep) => {
  const question = await ep.recvObject();
  await ep.sendObject({ answer: question.n * 2n, at: new Date() });
});
const ep = await connect({ host: '127.0.0.1', port: listener.port });
await ep.sendObject({ n: 21n });
console.log(await ep.recvObject()); // { answer: 42n, at: 2026-... }
await ep.close();
await listener.close();
