'use strict';
// Twilio.Response (RUNTIME §2.8), as seen by depot in the result frame.
const { test, before, after } = require('node:test');
const { startWorker, assert } = require('./harness');

// Each function builds a response from `build(R)`, R being Twilio.Response.
const respond = (build) => `exports.handler = (c, e, cb) => { const R = Twilio.Response; cb(null, (${build})(R)); };`;
const functions = {
  defaults: respond('(R) => new R()'),
  options: respond('(R) => new R({ statusCode: 201, body: { a: 1 }, headers: { "X-A": "b" } })'),
  html: respond('(R) => new R().setStatusCode(404).setBody("<p>gone</p>")'),
  typed: respond('(R) => new R().appendHeader("Content-Type", "text/csv").setBody("a,b")'),
  'typed-json': respond('(R) => new R().setHeaders({ "content-type": "application/vnd.x+json" }).setBody({ a: 1 })'),
  buffer: respond('(R) => new R().setBody(Buffer.from([0, 255, 1]))'),
  // RUNTIME §7 T6
  t6: respond(`(R) => new R()
    .setStatusCode(201)
    .appendHeader("X-Multi", "1")
    .appendHeader("X-Multi", "2")
    .appendHeader("X-Multi", "3")
    .setCookie("tz", "UTC", ["Max-Age=60"])
    .setBody({ ok: true })`),
  'set-headers': respond(`(R) => new R()
    .setCookie("old", "1")
    .appendHeader("X-Old", "1")
    .setHeaders({ "X-List": ["a", "b"], "X-Num": 5, "Set-Cookie": ["s=1;Path=/"] })`),
  'set-headers-cookie-string': respond('(R) => new R().setHeaders({ "set-cookie": "s=2" })'),
  cookies: respond(`(R) => new R()
    .setCookie("a", "1", ["Path=/", "HttpOnly"])
    .setCookie("b", "2")
    .appendHeader("set-cookie", "c=3")
    .setCookie("a", "again")
    .removeCookie("a")`),
  'object-header': respond(`(R) => {
    const r = new R();
    try { r.appendHeader("X-Obj", { no: 1 }); } catch (err) { return r.setBody(err.message); }
    return r.setBody("did not throw");
  }`),
  'header-case': respond('(R) => new R().appendHeader("X-Case", "1").appendHeader("x-case", "2")'),
  'bad-status': respond('(R) => new R().setStatusCode("nope")'),
  chain: respond(`(R) => {
    const r = new R();
    const same = [r.setStatusCode(200), r.setBody(""), r.setHeaders({}), r.appendHeader("a", "b"),
      r.setCookie("a", "b"), r.removeCookie("a")].every((x) => x === r);
    return r.setHeaders({}).setBody({ same, global: Response === R });
  }`),
};

let worker;
before(async () => {
  worker = await startWorker({ functions });
});
after(() => worker.close());

const call = (name) => worker.invoke(name);

test('defaults: 200, no headers, empty body', async () => {
  const result = await call('defaults');
  assert.deepEqual([result.status, result.headers, result.body], [200, [], '']);
});

test('constructor options are honoured; object body → JSON', async () => {
  const result = await call('options');
  assert.equal(result.status, 201);
  assert.deepEqual(result.headers, [['X-A', 'b'], ['Content-Type', 'application/json']]);
  assert.equal(result.body, '{"a":1}');
});

test('string body without Content-Type → text/html; charset=utf-8', async () => {
  const result = await call('html');
  assert.equal(result.status, 404);
  assert.deepEqual(result.headers, [['Content-Type', 'text/html; charset=utf-8']]);
  assert.equal(result.body, '<p>gone</p>');
});

test('a Content-Type set by the function is kept (any case)', async () => {
  const typed = await call('typed');
  assert.deepEqual([typed.headers, typed.body], [[['Content-Type', 'text/csv']], 'a,b']);
  const json = await call('typed-json');
  assert.deepEqual([json.headers, json.body], [[['content-type', 'application/vnd.x+json']], '{"a":1}']);
});

test('Buffer body goes out as bytes', async () => {
  const result = await call('buffer');
  assert.deepEqual([...result.bodyBytes], [0, 255, 1]);
  assert.equal(worker.header(result, 'content-type'), 'application/octet-stream');
});

test('appendHeader repeats, setCookie appends attributes; no production cookie rules here', async () => {
  const result = await call('t6');
  assert.equal(result.status, 201);
  assert.deepEqual(result.headers, [
    ['Set-Cookie', 'tz=UTC;Max-Age=60'],
    ['X-Multi', '1'],
    ['X-Multi', '2'],
    ['X-Multi', '3'],
    ['Content-Type', 'application/json'],
  ]);
  assert.equal(result.body, '{"ok":true}');
});

test('setHeaders replaces everything, cookies included; arrays and Set-Cookie key', async () => {
  const result = await call('set-headers');
  assert.deepEqual(result.headers, [
    ['Set-Cookie', 's=1;Path=/'],
    ['X-List', 'a'],
    ['X-List', 'b'],
    ['X-Num', '5'],
  ]);
  const single = await call('set-headers-cookie-string');
  assert.deepEqual(single.headers, [['Set-Cookie', 's=2']]);
});

test('cookies: appendHeader matches Set-Cookie case-insensitively; removeCookie drops and expires', async () => {
  const result = await call('cookies');
  assert.deepEqual(result.headers, [
    ['Set-Cookie', 'b=2'],
    ['Set-Cookie', 'c=3'],
    ['Set-Cookie', 'a=;Max-Age=0'],
  ]);
});

test('appendHeader with an object value throws', async () => {
  assert.equal((await call('object-header')).body, 'Header value cannot be an object');
});

test('other header names are case-sensitive', async () => {
  const result = await call('header-case');
  assert.deepEqual(result.headers, [['X-Case', '1'], ['x-case', '2']]);
});

test('an invalid status code is a 500 with an error', async () => {
  const result = await call('bad-status');
  assert.equal(result.status, 500);
  assert.match(result.error, /invalid status code/);
});

test('every method chains; the legacy Response global is the same class', async () => {
  assert.deepEqual(JSON.parse((await call('chain')).body), { same: true, global: true });
});
