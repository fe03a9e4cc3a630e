'use strict';
// depot-fn-host.js: the Node.js side of a depot function worker.
//
// depot starts `node depot-fn-host.js` with cwd = the build directory and fd 0 = one end of a
// Unix socket pair, then speaks the frame protocol of runtime/PROTOCOL.md on it. This file runs
// Twilio Functions as described in RUNTIME.md §2 (event, context, globals, Runtime client,
// callback, Twilio.Response). One invocation at a time; the function module is loaded once and
// stays warm. Written clean-room from those documents; Node built-ins only (the file is embedded
// in the depot binary, so it cannot have dependencies of its own).

const fs = require('fs');
const net = require('net');
const path = require('path');
const querystring = require('querystring');
const util = require('util');

// ---------------------------------------------------------------------------------------------
// Frames: 4-byte big-endian length, then UTF-8 JSON.

const channel = new net.Socket({ fd: 0, readable: true, writable: true });
let pending = Buffer.alloc(0);

function send(message) {
  const json = JSON.stringify(message);
  const length = Buffer.byteLength(json, 'utf8');
  const frame = Buffer.allocUnsafe(4 + length);
  frame.writeUInt32BE(length, 0);
  frame.write(json, 4, 'utf8');
  channel.write(frame);
}

channel.on('data', (chunk) => {
  pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
  while (pending.length >= 4) {
    const length = pending.readUInt32BE(0);
    if (pending.length < 4 + length) break; // wait for the rest of this frame
    const bytes = pending.subarray(4, 4 + length);
    pending = pending.subarray(4 + length);
    let message;
    try {
      message = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      fatal(`malformed frame from depot: ${err.message}`);
    }
    dispatch(message);
  }
});
// depot closing its end (or dying) ends the worker.
channel.on('end', () => process.exit(0));
channel.on('close', () => process.exit(0));
channel.on('error', (err) => {
  process.stderr.write(`depot-fn-host: channel error: ${err.message}\n`);
  process.exit(0);
});

function fatal(reason) {
  process.stderr.write(`depot-fn-host: ${reason}\n`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// Worker state, set by `init`.

let build = null; // { root, requestInfo, assets, functions }
let twilio = null; // the build's `twilio` package, or null when it is not installed
let current = null; // the running invocation { id, done, context }, until its result is sent
let lastContext = null; // for Runtime.getSync() called outside an invocation's synchronous part
const queue = []; // invokes received while one runs (depot should not do that, but be safe)

function dispatch(message) {
  switch (message && message.type) {
    case 'init':
      return init(message);
    case 'invoke':
      if (!build) fatal('invoke received before init');
      queue.push(message);
      if (!current) runNext();
      return;
    default:
      process.stderr.write(`depot-fn-host: ignoring frame of type ${JSON.stringify(message && message.type)}\n`);
  }
}

function init(message) {
  if (typeof message.root !== 'string') fatal('init without a root directory');
  build = {
    root: message.root,
    // event.request (headers and cookies) exists from handler 1.2.0 on; no version = current.
    requestInfo: versionAtLeast(message.handler_version, [1, 2, 0]),
    assets: message.assets || {},
    functions: message.functions || {},
  };
  twilio = loadTwilio(build.root);
  // Globals of RUNTIME §2.5. `Twilio` is a shallow copy so adding Response leaves the
  // package's own exports untouched.
  global.Twilio = Object.assign({}, twilio || {}, { Response: TwilioResponse });
  global.Runtime = { getAssets, getFunctions, getSync };
  global.Functions = getFunctions(); // legacy (Classic) conveniences, dev-runtime style
  global.Response = TwilioResponse;
  send({ type: 'ready' });
}

function versionAtLeast(version, minimum) {
  const match = /^(\d+)\.(\d+)\.(\d+)/.exec(String(version || ''));
  if (!match) return true;
  for (let i = 0; i < 3; i++) {
    const part = Number(match[i + 1]);
    if (part !== minimum[i]) return part > minimum[i];
  }
  return true;
}

// The build's own `twilio`; without it functions still run, only TwiML and clients are missing.
function loadTwilio(root) {
  let resolved;
  try {
    resolved = require.resolve('twilio', { paths: [root] });
  } catch (err) {
    process.stderr.write('depot-fn-host: the build has no twilio package; TwiML and clients are unavailable\n');
    return null;
  }
  try {
    return require(resolved);
  } catch (err) {
    process.stderr.write(`depot-fn-host: cannot load ${resolved}: ${err.stack || err}\n`);
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Console capture (RUNTIME §6.11): during an invocation every console call becomes one `log`
// frame; otherwise (leftover async work after a result) it goes to stderr for diagnostics.

function writeLog(level, message) {
  // `current` stays set until the result frame is written (see reply()).
  if (current) send({ type: 'log', id: current.id, level, message });
  else process.stderr.write(`[${level}] ${message}\n`);
}

const levels = { log: 'info', info: 'info', debug: 'info', warn: 'warn', error: 'error' };
for (const [method, level] of Object.entries(levels)) {
  console[method] = (...args) => writeLog(level, util.format(...args));
}
console.trace = function trace(...args) {
  // Same text as Node's own console.trace: "Trace: <message>" followed by the stack.
  const err = { name: 'Trace', message: util.format(...args) };
  Error.captureStackTrace(err, trace);
  writeLog('error', err.stack);
};
console.dir = (value, options) => writeLog('info', util.inspect(value, { customInspect: false, ...options }));

// A stray rejection or exception must never kill the worker (Node's default for both). It is
// reported against the running invocation, which carries on (it may still call back).
function reportStray(kind, err) {
  writeLog('error', `${kind}: ${(err && err.stack) || util.inspect(err)}`);
}
process.on('unhandledRejection', (reason) => reportStray('Unhandled promise rejection', reason));
process.on('uncaughtException', (err) => reportStray('Uncaught exception', err));

// ---------------------------------------------------------------------------------------------
// Twilio.Response (RUNTIME §2.8). Headers keep their case; cookies live in a Set-Cookie list.

const SET_COOKIE = 'Set-Cookie';
const isSetCookie = (name) => String(name).toLowerCase() === 'set-cookie';
const isPlainObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

class TwilioResponse {
  constructor(options = {}) {
    this.statusCode = 200;
    this.body = null;
    this.headers = { [SET_COOKIE]: [] };
    if (options.statusCode !== undefined) this.setStatusCode(options.statusCode);
    if (options.body !== undefined) this.setBody(options.body);
    if (options.headers !== undefined) this.setHeaders(options.headers);
  }

  setStatusCode(statusCode) {
    this.statusCode = statusCode;
    return this;
  }

  setBody(body) {
    this.body = body;
    return this;
  }

  // Replaces every header, cookies included (a Set-Cookie key gives the new cookie list).
  setHeaders(headers) {
    this.headers = { [SET_COOKIE]: [] };
    for (const [name, value] of Object.entries(headers || {})) {
      if (isSetCookie(name)) this.headers[SET_COOKIE] = [].concat(value);
      else this.headers[name] = value;
    }
    return this;
  }

  appendHeader(name, value) {
    if (isPlainObject(value)) throw new Error('Header value cannot be an object');
    if (isSetCookie(name)) {
      this.headers[SET_COOKIE] = this.headers[SET_COOKIE].concat(value);
    } else if (Object.prototype.hasOwnProperty.call(this.headers, name)) {
      this.headers[name] = [].concat(this.headers[name], value);
    } else {
      this.headers[name] = value;
    }
    return this;
  }

  setCookie(name, value, attributes = []) {
    this.headers[SET_COOKIE].push([`${name}=${value}`].concat(attributes).join(';'));
    return this;
  }

  removeCookie(name) {
    const others = this.headers[SET_COOKIE].filter((c) => String(c).split('=')[0] !== name);
    this.headers[SET_COOKIE] = others.concat(`${name}=;Max-Age=0`);
    return this;
  }
}

// ---------------------------------------------------------------------------------------------
// The Runtime client (RUNTIME §2.6).

function getAssets() {
  const assets = {};
  for (const [key, file] of Object.entries(build.assets)) {
    assets[key] = { path: file, open: () => fs.readFileSync(file, 'utf8') };
  }
  return assets;
}

function getFunctions() {
  const functions = {};
  for (const [key, file] of Object.entries(build.functions)) functions[key] = { path: file };
  return functions;
}

function getSync(options = {}) {
  const context = (current && current.context) || lastContext;
  if (!context) throw new Error('Runtime.getSync() needs an invocation context');
  const service = context.getTwilioClient().sync.v1.services(options.serviceName || 'default');
  service.maps = service.syncMaps; // aliases documented for Runtime.getSync()
  service.lists = service.syncLists;
  return service;
}

// ---------------------------------------------------------------------------------------------
// context (RUNTIME §2.4): rebuilt per invocation so Variable changes apply without a restart.

function buildContext(frame) {
  const context = {
    PATH: frame.PATH,
    DOMAIN_NAME: frame.DOMAIN_NAME,
    SERVICE_SID: frame.SERVICE_SID,
    ENVIRONMENT_SID: frame.ENVIRONMENT_SID,
  };
  // Injected credentials first, so Variables of the same names override them (§6.10).
  if (frame.ACCOUNT_SID !== undefined) context.ACCOUNT_SID = frame.ACCOUNT_SID;
  if (frame.AUTH_TOKEN !== undefined) context.AUTH_TOKEN = frame.AUTH_TOKEN;
  for (const [key, value] of Object.entries(frame.vars || {})) {
    if (key !== '__proto__') context[key] = value;
  }
  context.getTwilioClient = (options = {}) => {
    if (!context.ACCOUNT_SID || !context.AUTH_TOKEN) {
      throw new Error(
        'getTwilioClient: ACCOUNT_SID and AUTH_TOKEN are not set; enable the Service\'s ' +
          'include_credentials or define them as Environment Variables'
      );
    }
    if (!twilio) throw new Error('getTwilioClient: the twilio package is not installed in this build');
    return twilio(context.ACCOUNT_SID, context.AUTH_TOKEN, { lazyLoading: true, ...options });
  };
  return context;
}

// Variables are mirrored into process.env as twilio-run does locally (RUNTIME §6.6), refreshed
// per invocation like context: a removed Variable takes the worker's own value back (or none).
const ownEnv = Object.assign({}, process.env);
let mirrored = [];
function mirrorVariables(vars) {
  if (mirrored.length === 0 && Object.keys(vars).length === 0) return;
  for (const key of mirrored) {
    if (Object.prototype.hasOwnProperty.call(vars, key)) continue;
    if (Object.prototype.hasOwnProperty.call(ownEnv, key)) process.env[key] = ownEnv[key];
    else delete process.env[key];
  }
  mirrored = [];
  for (const [key, value] of Object.entries(vars)) {
    try {
      if (process.env[key] !== value) process.env[key] = value;
      mirrored.push(key);
    } catch (err) {
      /* a name the OS environment cannot hold: context still has it */
    }
  }
}

// The legacy `twilioClient` global exists only while credentials look valid (dev-runtime check).
let cachedClient = null;
function updateTwilioClientGlobal(context) {
  const { ACCOUNT_SID: sid, AUTH_TOKEN: token } = context;
  const valid =
    twilio && typeof sid === 'string' && sid.length === 34 && sid.startsWith('AC') &&
    typeof token === 'string' && token.length === 32;
  if (!valid) {
    delete global.twilioClient;
    return;
  }
  if (!cachedClient || cachedClient.key !== sid + token) {
    cachedClient = { key: sid + token, client: context.getTwilioClient() };
  }
  global.twilioClient = cachedClient.client;
}

// ---------------------------------------------------------------------------------------------
// event (RUNTIME §2.3): { request: { headers, cookies } }, then query, then body parameters.

class BadRequest extends Error {}

function buildEvent(invoke) {
  const headers = {};
  for (const [rawName, value] of invoke.headers || []) {
    const name = rawName.toLowerCase();
    if (name === '__proto__') continue;
    if (!Object.prototype.hasOwnProperty.call(headers, name)) headers[name] = value;
    else headers[name] = [].concat(headers[name], value); // repeated header: values in order
  }

  const event = {};
  if (build.requestInfo) event.request = { headers, cookies: parseCookies(headers.cookie) };

  const url = String(invoke.url || '');
  const queryStart = url.indexOf('?');
  if (queryStart !== -1) assign(event, parseExtendedQuery(url.slice(queryStart + 1).split('#')[0]));

  const body = Buffer.from(invoke.body || '', 'base64');
  const contentType = String([].concat(headers['content-type'] || '')[0]).trim().toLowerCase();
  // Media types are matched by prefix, parameters such as charset allowed (dev runtime ≥ 2.0.3).
  if (body.length && contentType.startsWith('application/x-www-form-urlencoded')) {
    assign(event, querystring.parse(body.toString('utf8'), '&', '=', { maxKeys: 0 }));
  } else if (body.length && contentType.startsWith('application/json')) {
    let parsed;
    try {
      parsed = JSON.parse(body.toString('utf8').replace(/^\uFEFF/, ''));
    } catch (err) {
      throw new BadRequest(`Invalid JSON body: ${err.message}`);
    }
    if (typeof parsed !== 'object' || parsed === null) {
      throw new BadRequest('JSON body must be an object or an array');
    }
    assign(event, parsed); // an array spreads into "0", "1", …
  }
  return event;
}

// Copy own keys; never let a parameter named __proto__ change an object's prototype.
function assign(target, source) {
  for (const key of Object.keys(source)) if (key !== '__proto__') target[key] = source[key];
  return target;
}

// Cookie header → { name: value }: values URL-decoded, first occurrence wins, and (as the dev
// runtime's cookie-parser does) a value written "j:<json>" is parsed as JSON.
function parseCookies(header) {
  const cookies = {};
  if (header === undefined) return cookies;
  for (const pair of [].concat(header).join('; ').split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    const name = pair.slice(0, eq).trim();
    let value = pair.slice(eq + 1).trim();
    if (!name || name === '__proto__' || Object.prototype.hasOwnProperty.call(cookies, name)) continue;
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    value = decode(value, false);
    if (value.startsWith('j:')) {
      try {
        value = JSON.parse(value.slice(2));
      } catch (err) {
        /* not JSON after all: keep the string */
      }
    }
    cookies[name] = value;
  }
  return cookies;
}

function decode(text, plusIsSpace) {
  const raw = plusIsSpace ? text.replace(/\+/g, ' ') : text;
  try {
    return decodeURIComponent(raw);
  } catch (err) {
    return raw; // malformed %-escape: keep the text as it came
  }
}

// Query strings use "extended" (qs-style) parsing, as Express does by default:
//   a=1&a=2 → { a: ['1', '2'] }      a[b]=1&a[c]=2 → { a: { b: '1', c: '2' } }
//   a[]=1&a[]=2 → { a: ['1', '2'] }  a[0]=x&a[1]=y → { a: ['x', 'y'] }
// Nesting stops after 5 levels (the rest stays one literal key) and array indexes above 20
// become object keys, like qs's defaults.
const MAX_DEPTH = 5;
const MAX_INDEX = 20;

function parseExtendedQuery(text) {
  // Pass 1: flat key → value(s), repeated keys combined into arrays.
  const flat = new Map();
  for (const part of text.split('&')) {
    if (!part) continue;
    // "a[b=c]=d": the key ends at "]=" when there is one, else at the first "=".
    const bracketEq = part.indexOf(']=');
    const eq = bracketEq !== -1 ? bracketEq + 1 : part.indexOf('=');
    const key = decode(eq === -1 ? part : part.slice(0, eq), true);
    const value = eq === -1 ? '' : decode(part.slice(eq + 1), true);
    if (!key) continue;
    flat.set(key, flat.has(key) ? [].concat(flat.get(key), value) : value);
  }
  // Pass 2: expand each bracketed key into nested objects/arrays and merge them together.
  let result = {};
  for (const [key, value] of flat) {
    const segments = splitKey(key);
    if (!segments) continue;
    let leaf = value;
    for (let i = segments.length - 1; i >= 0; i--) leaf = wrap(segments[i], leaf, i === 0);
    result = merge(result, leaf);
  }
  return compact(result);
}

// "a[b][]" → ['a', 'b', '']; beyond MAX_DEPTH the remainder is kept as one literal segment.
function splitKey(key) {
  const open = key.indexOf('[');
  if (open === -1 || key.indexOf(']', open) === -1) return [key];
  const segments = open > 0 ? [key.slice(0, open)] : [];
  const brackets = /\[([^[\]]*)\]/g;
  brackets.lastIndex = open;
  let match;
  let end = open;
  while (segments.length < MAX_DEPTH + 1 && (match = brackets.exec(key)) && match.index === end) {
    segments.push(match[1]);
    end = brackets.lastIndex;
  }
  if (end < key.length) segments.push(key.slice(end)); // too deep or not brackets: literal rest
  return segments.includes('__proto__') ? null : segments;
}

function arrayIndex(segment) {
  return /^(0|[1-9]\d*)$/.test(segment) && Number(segment) <= MAX_INDEX ? Number(segment) : -1;
}

function wrap(segment, leaf, isRoot) {
  if (segment === '' && !isRoot) return [].concat(leaf); // "a[]": append
  const index = isRoot ? -1 : arrayIndex(segment);
  if (index !== -1) {
    const array = [];
    array[index] = leaf;
    return array;
  }
  return { [segment === '' ? '0' : segment]: leaf };
}

const isObject = (v) => typeof v === 'object' && v !== null;

function merge(target, source) {
  if (!isObject(source)) {
    // A scalar meets whatever was there: it joins an array, or the two become one.
    if (Array.isArray(target)) return target.concat(source);
    if (isObject(target)) return Object.assign(target, { [source]: true });
    return [target, source];
  }
  if (!isObject(target)) return [target].concat(source);
  if (Array.isArray(target) && Array.isArray(source)) {
    source.forEach((item, i) => {
      if (!(i in target)) target[i] = item;
      else if (isObject(target[i]) && isObject(item)) target[i] = merge(target[i], item);
      else target.push(item);
    });
    return target;
  }
  // Object and object, or array and object: the result is an object keyed by index/name.
  const out = Array.isArray(target) ? Object.assign({}, target) : target;
  for (const key of Object.keys(source)) {
    out[key] = Object.prototype.hasOwnProperty.call(out, key) ? merge(out[key], source[key]) : source[key];
  }
  return out;
}

// Sparse arrays from explicit indexes ("a[1]=x&a[5]=y") are closed up, as qs does.
function compact(value) {
  if (Array.isArray(value)) return value.filter((_, i) => i in value).map(compact);
  if (isObject(value)) for (const key of Object.keys(value)) value[key] = compact(value[key]);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Invocation and the callback (RUNTIME §2.7).

const TEXT = 'text/plain; charset=utf-8';

function runNext() {
  const message = queue.shift();
  if (message) invoke(message);
}

function invoke(message) {
  const inv = { id: message.id, done: false, context: null };
  current = inv;

  let event;
  let handler;
  try {
    event = buildEvent(message);
    const context = buildContext(message.context || {});
    mirrorVariables((message.context && message.context.vars) || {});
    inv.context = lastContext = context;
    updateTwilioClientGlobal(context);
    handler = loadHandler(String(message.file));
  } catch (err) {
    if (err instanceof BadRequest) {
      return reply(inv, { status: 400, headers: [['Content-Type', TEXT]], body: err.message, error: err.message });
    }
    return callback(inv, err);
  }
  if (typeof handler !== 'function') {
    const error = `${message.file} does not export a handler function`;
    return reply(inv, { status: 500, headers: [['Content-Type', TEXT]], body: 'Internal Server Error', error });
  }

  // Rejections/throws of undefined still mean failure.
  const failed = (err) => callback(inv, err || new Error(`handler failed with ${util.inspect(err)}`));
  try {
    const returned = handler(inv.context, event, (err, payload) => callback(inv, err, payload));
    if (returned && typeof returned.then === 'function') returned.then(null, failed);
    // Resolving without calling back: keep waiting; depot's time limit ends it.
  } catch (err) {
    failed(err);
  }
}

// Module state survives warm invocations (require() caches by resolved path); a module whose
// top level throws is not remembered and is retried on the next invocation. The lookup is kept
// here because require() resolves its argument again on every call.
const handlers = new Map();
function loadHandler(file) {
  let loaded = handlers.get(file);
  if (!loaded) {
    loaded = require(path.resolve(build.root, file));
    handlers.set(file, loaded);
  }
  return loaded.handler;
}

function callback(inv, err, payload) {
  if (inv.done) {
    writeLog('warn', 'callback was called more than once; only the first call counts');
    return;
  }
  let response;
  try {
    response = err ? errorResponse(err) : payloadResponse(payload);
  } catch (renderError) {
    response = errorResponse(renderError); // e.g. a payload JSON cannot encode (cycle, BigInt)
  }
  reply(inv, response);
}

function errorResponse(err) {
  let body;
  if (err instanceof Error || typeof err === 'string') body = String(err);
  else {
    try {
      body = JSON.stringify(err);
    } catch (e) {
      body = util.inspect(err);
    }
  }
  return { status: 500, headers: [['Content-Type', TEXT]], body, error: (err && err.stack) || body };
}

function isTwiml(payload) {
  const twiml = twilio && twilio.twiml;
  if (!twiml) return false;
  return ['VoiceResponse', 'MessagingResponse', 'FaxResponse'].some(
    (name) => typeof twiml[name] === 'function' && payload instanceof twiml[name]
  );
}

function payloadResponse(payload) {
  if (payload === undefined || payload === null) return { status: 200, headers: [], body: '' };
  if (payload instanceof TwilioResponse) return twilioResponse(payload);
  if (typeof payload === 'string') return { status: 200, headers: [['Content-Type', TEXT]], body: payload };
  if (isTwiml(payload)) {
    return { status: 200, headers: [['Content-Type', 'text/xml']], body: payload.toString() };
  }
  return { status: 200, headers: [['Content-Type', 'application/json']], body: toJson(payload) };
}

function toJson(value) {
  const json = JSON.stringify(value);
  return json === undefined ? '' : json; // functions and symbols encode to nothing
}

function twilioResponse(response) {
  const status = Number(response.statusCode);
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw new Error(`Twilio.Response has an invalid status code: ${util.inspect(response.statusCode)}`);
  }
  const headers = [];
  for (const [name, value] of Object.entries(response.headers || {})) {
    for (const one of [].concat(value)) {
      if (one !== undefined && one !== null) headers.push([name, String(one)]);
    }
  }
  const hasType = headers.some(([name]) => name.toLowerCase() === 'content-type');
  const defaultType = (type) => (hasType ? headers : headers.concat([['Content-Type', type]]));

  let body = response.body;
  if (body === undefined || body === null) return { status, headers, body: '' };
  if (Buffer.isBuffer(body)) return { status, headers: defaultType('application/octet-stream'), body };
  if (typeof body === 'string') return { status, headers: defaultType('text/html; charset=utf-8'), body };
  return { status, headers: defaultType('application/json'), body: toJson(body) };
}

function reply(inv, { status, headers, body, error = null }) {
  inv.done = true;
  // The result goes out after the current tick, so a second callback made synchronously right
  // after the first still has its warning logged under this invocation's id.
  setImmediate(() => {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(String(body), 'utf8');
    send({ type: 'result', id: inv.id, status, headers, body: bytes.toString('base64'), error });
    if (current === inv) current = null;
    runNext();
  });
}
