'use strict';
// callback(error, payload) and handler completion (RUNTIME §2.7, "depot MUST" column).
const { test, before, after } = require('node:test');
const { startWorker, assert, NO_TWILIO } = require('./harness');

const TEXT = 'text/plain; charset=utf-8';
const fn = (body) => `exports.handler = ${body};`;
const functions = {
  'error-object': fn('(c, e, cb) => cb(new Error("boom"))'),
  'error-string': fn('(c, e, cb) => cb("bad")'),
  'error-other': fn('(c, e, cb) => cb({ code: 7 })'),
  'no-payload': fn('(c, e, cb) => cb()'),
  'null-payload': fn('(c, e, cb) => cb(null, null)'),
  string: fn('(c, e, cb) => cb(null, "héllo")'),
  object: fn('(c, e, cb) => cb(null, { a: [1, "b"] })'),
  array: fn('(c, e, cb) => cb(null, [1, 2])'),
  boolean: fn('(c, e, cb) => cb(null, false)'),
  number: fn('(c, e, cb) => cb(null, 42)'),
  circular: fn('(c, e, cb) => { const o = {}; o.o = o; cb(null, o); }'),
  voice: fn('(c, e, cb) => { const t = new Twilio.twiml.VoiceResponse(); t.say("Hello World"); cb(null, t); }'),
  messaging: fn('(c, e, cb) => { const t = new Twilio.twiml.MessagingResponse(); t.message("hi"); cb(null, t); }'),
  fax: fn('(c, e, cb) => cb(null, new Twilio.twiml.FaxResponse())'),
  twice: fn('(c, e, cb) => { cb(null, "first"); cb(null, "second"); cb(new Error("third")); }'),
  'twice-later': fn('(c, e, cb) => { cb(null, "first"); setTimeout(() => cb(null, "late"), 10); }'),
  throws: fn('() => { throw new Error("thrown") }'),
  'throws-after-callback': fn('(c, e, cb) => { cb(null, "ok"); throw new Error("after"); }'),
  rejects: fn('async () => { await null; throw new Error("rejected"); }'),
  'rejects-undefined': fn('() => Promise.reject()'),
  'async-callback': fn('async (c, e, cb) => { await new Promise((r) => setTimeout(r, 10)); cb(null, "async ok"); }'),
  'resolves-without-callback': fn('async () => "ignored"'),
  'no-handler': 'exports.notHandler = () => {};',
  'broken-module': 'throw new Error("top-level failure");',
  counter: 'let count = 0;\nexports.handler = (c, e, cb) => cb(null, { count: ++count });',
  stray: fn(`(c, e, cb) => {
    Promise.reject(new Error("stray rejection"));
    setTimeout(() => { throw new Error("stray exception"); }, 0);
    setTimeout(() => cb(null, "survived"), 30);
  }`),
};

let worker;
before(async () => {
  worker = await startWorker({ functions });
});
after(() => worker.close());

const call = (name) => worker.invoke(name);
const type = (result) => worker.header(result, 'content-type');

test('callback(Error): 500 text/plain String(error), stack only in the error field', async () => {
  const result = await call('error-object');
  assert.equal(result.status, 500);
  assert.equal(type(result), TEXT);
  assert.equal(result.body, 'Error: boom');
  assert.match(result.error, /^Error: boom\n\s+at /);
});

test('callback(string) and callback(other value): 500 with the text / JSON text', async () => {
  const str = await call('error-string');
  assert.deepEqual([str.status, type(str), str.body], [500, TEXT, 'bad']);
  assert.equal(str.error, 'bad');
  const other = await call('error-other');
  assert.deepEqual([other.status, type(other), other.body], [500, TEXT, '{"code":7}']);
});

test('no payload or null: 200, empty body, no Content-Type', async () => {
  for (const name of ['no-payload', 'null-payload']) {
    const result = await call(name);
    assert.deepEqual([result.status, result.headers, result.body, result.error], [200, [], '', null]);
  }
});

test('string payload: 200 text/plain; charset=utf-8', async () => {
  const result = await call('string');
  assert.deepEqual([result.status, type(result), result.body], [200, TEXT, 'héllo']);
});

test('objects, arrays, booleans, numbers: 200 application/json', async () => {
  const expected = { object: '{"a":[1,"b"]}', array: '[1,2]', boolean: 'false', number: '42' };
  for (const [name, body] of Object.entries(expected)) {
    const result = await call(name);
    assert.deepEqual([result.status, type(result), result.body], [200, 'application/json', body], name);
  }
});

test('a payload JSON cannot encode: 500 with an error', async () => {
  const result = await call('circular');
  assert.equal(result.status, 500);
  assert.match(result.error, /circular/i);
});

test('TwiML (Voice, Messaging, Fax): 200 text/xml with the XML declaration', { skip: NO_TWILIO }, async () => {
  const voice = await call('voice');
  assert.equal(voice.status, 200);
  assert.equal(type(voice), 'text/xml');
  assert.equal(voice.body, '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hello World</Say></Response>');
  assert.match((await call('messaging')).body, /<Message>hi<\/Message>/);
  const fax = await call('fax');
  assert.equal(type(fax), 'text/xml');
  assert.match(fax.body, /^<\?xml/);
});

test('called twice: the first wins, later calls give one warn log each', async () => {
  const result = await call('twice');
  assert.equal(result.body, 'first');
  assert.deepEqual(result.logs.map((l) => l.level), ['warn', 'warn']);
  assert.match(result.logs[0].message, /more than once/);
  // a late second call (after the result went out) only reaches stderr
  const later = await call('twice-later');
  assert.equal(later.body, 'first');
  await new Promise((r) => setTimeout(r, 50));
  assert.match(worker.stderr, /more than once/);
});

test('a synchronous throw is callback(error)', async () => {
  const result = await call('throws');
  assert.deepEqual([result.status, type(result), result.body], [500, TEXT, 'Error: thrown']);
  assert.match(result.error, /at /);
  const after = await call('throws-after-callback');
  assert.equal(after.body, 'ok');
});

test('an async rejection is callback(error), and the worker serves the next invocation', async () => {
  const result = await call('rejects');
  assert.deepEqual([result.status, result.body], [500, 'Error: rejected']);
  assert.match(result.error, /rejected\n\s+at /);
  const undef = await call('rejects-undefined');
  assert.equal(undef.status, 500);
  assert.equal((await call('string')).status, 200);
});

test('an async handler may call back later', async () => {
  assert.equal((await call('async-callback')).body, 'async ok');
});

test('missing handler export and a module that fails to load: 500 with an error', async () => {
  const missing = await call('no-handler');
  assert.equal(missing.status, 500);
  assert.equal(type(missing), TEXT);
  assert.match(missing.error, /does not export a handler/);
  const broken = await call('broken-module');
  assert.deepEqual([broken.status, broken.body], [500, 'Error: top-level failure']);
  assert.match(broken.error, /top-level failure\n\s+at /);
});

test('module state survives warm invocations', async () => {
  assert.deepEqual(JSON.parse((await call('counter')).body), { count: 1 });
  assert.deepEqual(JSON.parse((await call('counter')).body), { count: 2 });
});

test('stray rejections and exceptions become error logs; the worker survives', async () => {
  const result = await call('stray');
  assert.equal(result.body, 'survived');
  const errors = result.logs.filter((l) => l.level === 'error').map((l) => l.message);
  assert.equal(errors.length, 2);
  assert.match(errors.join('\n'), /stray rejection/);
  assert.match(errors.join('\n'), /stray exception/);
  assert.equal((await call('string')).status, 200);
});

// Last: the worker stays busy with this invocation (depot's timer would end it).
test('a handler resolving without calling back keeps the invocation open', async () => {
  const message = worker.invokeFrame('resolves-without-callback');
  const from = worker.frames.length;
  worker.send(message);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(worker.frames.slice(from).some((f) => f.type === 'result'), false);
});
