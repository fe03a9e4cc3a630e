'use strict';
// event construction (RUNTIME §2.3).
const { test, before, after } = require('node:test');
const { startWorker, assert } = require('./harness');

const echo = 'exports.handler = (context, event, callback) => { console.log("ran"); callback(null, event); };';
let worker;
before(async () => {
  worker = await startWorker({ functions: { echo } });
});
after(() => worker.close());

async function echoEvent(options) {
  const result = await worker.invoke('echo', options);
  assert.equal(result.status, 200, result.body);
  assert.equal(worker.header(result, 'content-type'), 'application/json');
  return JSON.parse(result.body);
}

test('GET: request holds headers and cookies, nothing else', async () => {
  const event = await echoEvent({});
  assert.deepEqual(event, { request: { headers: {}, cookies: {} } });
});

test('query strings use extended (qs-style) parsing', async () => {
  const url = '/echo?a[b]=1&a[c][d]=2&rep=1&rep=2&list[]=x&list[]=y&idx[1]=q&idx[0]=p&empty=&sp=a+b%20c&flag';
  const event = await echoEvent({ url });
  assert.deepEqual(event.a, { b: '1', c: { d: '2' } });
  assert.deepEqual(event.rep, ['1', '2']);
  assert.deepEqual(event.list, ['x', 'y']);
  assert.deepEqual(event.idx, ['p', 'q']);
  assert.equal(event.empty, '');
  assert.equal(event.sp, 'a b c');
  assert.equal(event.flag, '');
  // no prototype pollution through parameter names
  const polluted = await echoEvent({ url: '/echo?__proto__[x]=1&a[__proto__][y]=2&ok=1' });
  assert.deepEqual(Object.keys(polluted).sort(), ['ok', 'request']);
  assert.equal({}.x, undefined);
});

test('form bodies are flat: repeated keys become arrays, brackets stay literal; body beats query', async () => {
  const event = await echoEvent({
    url: '/echo?B=q&C=1',
    headers: [['content-type', 'application/x-www-form-urlencoded; charset=utf-8']],
    body: 'B=f&D=x&D=y&a%5Bb%5D=1&e=&s=a+b',
  });
  assert.equal(event.B, 'f');
  assert.equal(event.C, '1');
  assert.deepEqual(event.D, ['x', 'y']);
  assert.equal(event['a[b]'], '1');
  assert.equal(event.e, '');
  assert.equal(event.s, 'a b');
});

test('JSON object bodies merge their top-level members, typed', async () => {
  const event = await echoEvent({
    url: '/echo?B=q&C=1',
    headers: [['content-type', 'application/json']],
    body: JSON.stringify({ B: 'json', o: { d: 1 }, n: 2, t: true }),
  });
  assert.equal(event.B, 'json');
  assert.equal(event.C, '1');
  assert.deepEqual(event.o, { d: 1 });
  assert.equal(event.n, 2);
  assert.equal(event.t, true);
  assert.equal(event.request.headers['content-type'], 'application/json');
});

test('JSON arrays spread to "0", "1", …; media type matched by prefix with parameters', async () => {
  const event = await echoEvent({
    headers: [['content-type', 'application/json; charset=utf-8']],
    body: '[10, "x"]',
  });
  assert.equal(event['0'], 10);
  assert.equal(event['1'], 'x');
});

test('malformed or scalar JSON: 400 text/plain with an error, handler not run', async () => {
  for (const body of ['{bad', '"text"', '42', 'null', 'true']) {
    const result = await worker.invoke('echo', { headers: [['content-type', 'application/json']], body });
    assert.equal(result.status, 400, body);
    assert.equal(worker.header(result, 'content-type'), 'text/plain; charset=utf-8');
    assert.ok(result.body.length > 0);
    assert.ok(result.error, 'an error for the log');
    assert.deepEqual(result.logs, [], 'the handler did not run');
  }
  // an empty JSON body is no body at all
  const event = await echoEvent({ method: 'POST', headers: [['content-type', 'application/json']] });
  assert.deepEqual(Object.keys(event), ['request']);
});

test('other content types are ignored and the handler still runs', async () => {
  const event = await echoEvent({ headers: [['content-type', 'text/plain']], body: 'a=1' });
  assert.equal(event.a, undefined);
});

test('headers: lowercased, repeated ones become arrays in arrival order', async () => {
  const event = await echoEvent({
    headers: [
      ['x-multi', '1'],
      ['User-Agent', 'test'],
      ['x-multi', '2'],
      ['x-multi', '3'],
    ],
  });
  assert.deepEqual(event.request.headers, { 'x-multi': ['1', '2', '3'], 'user-agent': 'test' });
});

test('cookies: parsed from Cookie, URL-decoded, first wins, j: values are JSON', async () => {
  const event = await echoEvent({
    headers: [['cookie', 'a=1; b=2; c=hello%20world; a=3; q="quoted"; j=j%3A%7B%22x%22%3A1%7D; bad=%E0%A4%A']],
  });
  assert.deepEqual(event.request.cookies, { a: '1', b: '2', c: 'hello world', q: 'quoted', j: { x: 1 }, bad: '%E0%A4%A' });
  assert.equal(event.request.headers.cookie.startsWith('a=1; b=2'), true);
});

test('a parameter named request replaces event.request', async () => {
  const fromQuery = await echoEvent({ url: '/echo?request=x', headers: [['cookie', 'a=1']] });
  assert.equal(fromQuery.request, 'x');
  const fromBody = await echoEvent({
    headers: [['content-type', 'application/json']],
    body: JSON.stringify({ request: { mine: true } }),
  });
  assert.deepEqual(fromBody.request, { mine: true });
});

test('handler_version < 1.2.0: no event.request at all; null means current', async () => {
  const old = await startWorker({ functions: { echo }, handlerVersion: '1.1.3' });
  try {
    const result = await old.invoke('echo', { url: '/echo?B=q', headers: [['cookie', 'a=1']] });
    assert.deepEqual(JSON.parse(result.body), { B: 'q' });
  } finally {
    await old.close();
  }
  const unknown = await startWorker({ functions: { echo }, handlerVersion: null });
  try {
    const result = await unknown.invoke('echo', { headers: [['cookie', 'a=1']] });
    assert.deepEqual(JSON.parse(result.body).request.cookies, { a: '1' });
  } finally {
    await unknown.close();
  }
});
