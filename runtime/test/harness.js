'use strict';
// Test harness for runtime/depot-fn-host.js: lays out a build directory, starts the shim with
// fd 0 = a connected Unix socket (as depot's socket pair), and speaks the frame protocol.
//
// (node --test treats every .js file under a test/ directory as a test file, so this module is
// also "run" once as a test; it only defines functions, so that is a no-op.)

const assert = require('node:assert');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const SHIM = path.join(__dirname, '..', 'depot-fn-host.js');
const TEST_MODULES = path.join(__dirname, 'node_modules');
const HAS_TWILIO = fs.existsSync(path.join(TEST_MODULES, 'twilio', 'package.json'));
const NO_TWILIO = HAS_TWILIO
  ? false
  : 'twilio is not installed: run runtime/test/setup.sh (npm ci) to enable these tests';

const SERVICE_SID = 'ZS' + '0'.repeat(32);
const ENVIRONMENT_SID = 'ZE' + '0'.repeat(32);

function frame(message) {
  const json = Buffer.from(JSON.stringify(message), 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(json.length, 0);
  return Buffer.concat([header, json]);
}

// Build layout like depot's: functions/<name>.js, assets/<name>; node_modules links to the
// test install (like a shared install) when `twilio` is wanted.
function makeBuild({ functions = {}, assets = {}, twilio = true }) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'depot-fn-host-'));
  fs.mkdirSync(path.join(root, 'functions'));
  fs.mkdirSync(path.join(root, 'assets'));
  if (twilio && HAS_TWILIO) fs.symlinkSync(TEST_MODULES, path.join(root, 'node_modules'), 'dir');
  const functionFiles = {};
  for (const [name, source] of Object.entries(functions)) {
    const file = path.join(root, 'functions', name.replace(/\//g, '_') + '.js');
    fs.writeFileSync(file, source);
    functionFiles[name] = file;
  }
  const assetFiles = {};
  for (const [key, content] of Object.entries(assets)) {
    const file = path.join(root, 'assets', key.replace(/\//g, '_'));
    fs.writeFileSync(file, content);
    assetFiles[key] = file;
  }
  return { root, functionFiles, assetFiles };
}

class Worker {
  constructor() {
    this.frames = []; // every frame received, in order
    this.waiters = [];
    this.stderr = '';
    this.buffer = Buffer.alloc(0);
    this.nextId = 1;
  }

  onData(chunk) {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 4) {
      const length = this.buffer.readUInt32BE(0);
      if (this.buffer.length < 4 + length) break;
      const message = JSON.parse(this.buffer.subarray(4, 4 + length).toString('utf8'));
      this.buffer = this.buffer.subarray(4 + length);
      this.frames.push(message);
      for (const waiter of this.waiters.slice()) waiter();
    }
  }

  // Resolves with the first frame (from index `from` on) that matches.
  waitFor(predicate, from = 0, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.frames.slice(from).find(predicate);
        if (!found) return false;
        this.waiters = this.waiters.filter((w) => w !== check);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`no matching frame within ${timeoutMs} ms; stderr:\n${this.stderr}`));
      }, timeoutMs);
      if (!check()) this.waiters.push(check);
    });
  }

  writeRaw(bytes) {
    this.socket.write(bytes);
  }

  send(message) {
    this.writeRaw(frame(message));
  }

  invokeFrame(name, options = {}) {
    const id = options.id || `RQ${String(this.nextId++).padStart(32, '0')}`;
    const body = options.body === undefined ? Buffer.alloc(0) : Buffer.from(options.body);
    return {
      type: 'invoke',
      id,
      method: options.method || (body.length ? 'POST' : 'GET'),
      url: options.url || `/${name}`,
      headers: options.headers || [],
      body: body.toString('base64'),
      file: options.file || this.build.functionFiles[name],
      context: {
        PATH: `/${name}`,
        DOMAIN_NAME: 'x-1234-dev.localhost:4000',
        SERVICE_SID,
        ENVIRONMENT_SID,
        vars: {},
        ...options.context,
      },
    };
  }

  // Sends one invoke; resolves with { status, headers, body, error, logs } once its result came.
  async invoke(name, options = {}) {
    const message = this.invokeFrame(name, options);
    const from = this.frames.length;
    this.send(message);
    return this.result(message.id, from);
  }

  async result(id, from = 0) {
    const result = await this.waitFor((f) => f.type === 'result' && f.id === id, from);
    const until = this.frames.indexOf(result);
    const logs = this.frames.slice(from, until).filter((f) => f.type === 'log');
    const body = Buffer.from(result.body, 'base64');
    return { ...result, bodyBytes: body, body: body.toString('utf8'), logs };
  }

  header(result, name) {
    const values = result.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
    return values.length > 1 ? values : values[0];
  }

  async close() {
    this.socket.end();
    const code = await this.exited;
    this.server.close();
    fs.rmSync(this.build.root, { recursive: true, force: true });
    fs.rmSync(this.socketDir, { recursive: true, force: true });
    return code;
  }
}

// Starts a worker for a new build. Options: functions {name: source}, assets {key: text},
// handlerVersion, twilio (link node_modules), init (false: do not send init).
async function startWorker(options = {}) {
  const worker = new Worker();
  worker.build = makeBuild(options);
  worker.socketDir = fs.mkdtempSync(path.join(os.tmpdir(), 'depot-fn-sock-'));
  const socketPath = path.join(worker.socketDir, 's');

  // Our end is the server side of a connection; the client side becomes the child's fd 0.
  worker.server = net.createServer();
  await new Promise((resolve) => worker.server.listen(socketPath, resolve));
  const accepted = new Promise((resolve) => worker.server.once('connection', resolve));
  const childEnd = net.connect(socketPath);
  await new Promise((resolve) => childEnd.once('connect', resolve));
  worker.socket = await accepted;
  worker.socket.on('data', (chunk) => worker.onData(chunk));
  worker.socket.on('error', () => {});

  worker.child = childProcess.spawn(process.execPath, [SHIM], {
    cwd: worker.build.root,
    stdio: [childEnd, 'pipe', 'pipe'],
    env: { PATH: process.env.PATH },
  });
  childEnd.destroy(); // the child holds its own copy of that descriptor
  worker.child.stdout.on('data', (d) => (worker.stderr += d));
  worker.child.stderr.on('data', (d) => (worker.stderr += d));
  worker.exited = new Promise((resolve) => worker.child.on('exit', (code, signal) => resolve(signal || code)));

  if (options.init !== false) {
    worker.send({
      type: 'init',
      root: worker.build.root,
      handler_version: options.handlerVersion === undefined ? '2.1.0' : options.handlerVersion,
      assets: worker.build.assetFiles,
      functions: worker.build.functionFiles,
    });
    await worker.waitFor((f) => f.type === 'ready');
  }
  return worker;
}

module.exports = { startWorker, frame, HAS_TWILIO, NO_TWILIO, SERVICE_SID, ENVIRONMENT_SID, assert };
