'use strict';
// Framing and lifecycle (runtime/PROTOCOL.md).
const { test } = require('node:test');
const { startWorker, frame, assert } = require('./harness');

const hello = 'exports.handler = (c, e, cb) => cb(null, "hello " + (e.who || "world"));';

function initFrame(worker) {
  return {
    type: 'init',
    root: worker.build.root,
    handler_version: '2.1.0',
    assets: {},
    functions: worker.build.functionFiles,
  };
}

test('frames split into single bytes are reassembled', async () => {
  const worker = await startWorker({ functions: { hello }, init: false });
  try {
    const bytes = Buffer.concat([frame(initFrame(worker)), frame(worker.invokeFrame('hello', { id: 'RQ1' }))]);
    for (const byte of bytes) {
      worker.writeRaw(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    await worker.waitFor((f) => f.type === 'ready');
    const result = await worker.result('RQ1');
    assert.deepEqual([result.status, result.body], [200, 'hello world']);
  } finally {
    await worker.close();
  }
});

test('several frames in one chunk: init answers ready, invokes run one after the other', async () => {
  const worker = await startWorker({ functions: { hello }, init: false });
  try {
    worker.writeRaw(Buffer.concat([
      frame(initFrame(worker)),
      frame(worker.invokeFrame('hello', { id: 'RQ1', url: '/hello?who=one' })),
      frame(worker.invokeFrame('hello', { id: 'RQ2', url: '/hello?who=two' })),
    ]));
    assert.equal((await worker.result('RQ1')).body, 'hello one');
    assert.equal((await worker.result('RQ2')).body, 'hello two');
    assert.deepEqual(worker.frames.map((f) => f.type), ['ready', 'result', 'result']);
  } finally {
    await worker.close();
  }
});

test('an invoke sent while another runs waits for its result (depot pipelines)', async () => {
  const slow =
    'exports.handler = (c, e, cb) => { console.log("start " + e.n); ' +
    'setTimeout(() => { console.log("end " + e.n); cb(null, e.n); }, 50); };';
  const worker = await startWorker({ functions: { slow } });
  try {
    worker.writeRaw(frame(worker.invokeFrame('slow', { id: 'RQ1', url: '/slow?n=1' })));
    await worker.waitFor((f) => f.type === 'log' && f.id === 'RQ1');
    worker.writeRaw(frame(worker.invokeFrame('slow', { id: 'RQ2', url: '/slow?n=2' })));
    assert.equal((await worker.result('RQ2')).body, '2');
    const seen = worker.frames
      .filter((f) => f.type !== 'ready')
      .map((f) => `${f.id} ${f.type === 'log' ? f.message : 'result'}`);
    assert.deepEqual(seen, ['RQ1 start 1', 'RQ1 end 1', 'RQ1 result', 'RQ2 start 2', 'RQ2 end 2', 'RQ2 result']);
  } finally {
    await worker.close();
  }
});

test('large bodies survive framing in both directions', async () => {
  const echo = 'exports.handler = (c, e, cb) => cb(null, e.big);';
  const worker = await startWorker({ functions: { echo } });
  try {
    const big = 'x'.repeat(3 * 1024 * 1024);
    const result = await worker.invoke('echo', {
      headers: [['content-type', 'application/json']],
      body: JSON.stringify({ big }),
    });
    assert.equal(result.body, big);
  } finally {
    await worker.close();
  }
});

test('the worker exits with 0 when depot closes fd 0', async () => {
  const worker = await startWorker({ functions: { hello } });
  assert.equal(await worker.close(), 0);
});

test('a malformed frame or an invoke before init makes the worker exit non-zero', async () => {
  const bad = await startWorker({ functions: { hello }, init: false });
  const junk = Buffer.from('{not json');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(junk.length, 0);
  bad.writeRaw(Buffer.concat([header, junk]));
  assert.equal(await bad.exited, 1);
  assert.match(bad.stderr, /malformed frame/);
  await bad.close();

  const early = await startWorker({ functions: { hello }, init: false });
  early.send(early.invokeFrame('hello'));
  assert.equal(await early.exited, 1);
  assert.match(early.stderr, /before init/);
  await early.close();
});
