'use strict';
// Console capture (RUNTIME §6.11, PROTOCOL "log" frames).
const { test, before, after } = require('node:test');
const { startWorker, assert } = require('./harness');

const functions = {
  levels: `exports.handler = (c, e, cb) => {
    console.log("log %s=%d", "a", 1);
    console.info({ nested: { x: [1] } });
    console.debug("debug", 2, true);
    console.warn("warn");
    console.error(new Error("err"));
    console.trace("trace me");
    console.dir({ d: 1 });
    cb(null, "done");
  };`,
  late: `exports.handler = (c, e, cb) => {
    cb(null, "ok");
    setTimeout(() => console.log("late output"), 20);
  };`,
  'top-level': `console.log("loading module");
    exports.handler = (c, e, cb) => cb(null, "ok");`,
};

let worker;
before(async () => {
  worker = await startWorker({ functions });
});
after(() => worker.close());

test('each console call is one log frame with the invocation id and its level', async () => {
  const result = await worker.invoke('levels', { id: 'RQ' + 'a'.repeat(32) });
  assert.equal(result.body, 'done');
  assert.ok(result.logs.every((l) => l.id === 'RQ' + 'a'.repeat(32)));
  assert.deepEqual(
    result.logs.map((l) => l.level),
    ['info', 'info', 'info', 'warn', 'error', 'error', 'info']
  );
  const messages = result.logs.map((l) => l.message);
  assert.equal(messages[0], 'log a=1');
  assert.equal(messages[1], '{ nested: { x: [ 1 ] } }');
  assert.equal(messages[2], 'debug 2 true');
  assert.equal(messages[3], 'warn');
  assert.match(messages[4], /^Error: err\n\s+at /);
  assert.match(messages[5], /^Trace: trace me\n\s+at /);
  assert.equal(messages[6], '{ d: 1 }');
});

test('logs are sent before the result; output after the result goes to stderr', async () => {
  const from = worker.frames.length;
  const result = await worker.invoke('late');
  assert.deepEqual(result.logs, []);
  await new Promise((r) => setTimeout(r, 100));
  assert.match(worker.stderr, /\[info\] late output/);
  assert.equal(worker.frames.slice(from).some((f) => f.type === 'log'), false);
});

test('module top-level output belongs to the invocation that loads the module', async () => {
  const first = await worker.invoke('top-level');
  assert.deepEqual(first.logs.map((l) => l.message), ['loading module']);
  const second = await worker.invoke('top-level');
  assert.deepEqual(second.logs, []);
});
