'use strict';
// Globals (RUNTIME §2.5) and the Runtime client (§2.6).
const { test } = require('node:test');
const path = require('node:path');
const { startWorker, assert, NO_TWILIO } = require('./harness');

const inspect = `exports.handler = (c, e, cb) => {
  const assets = Runtime.getAssets();
  const functions = Runtime.getFunctions();
  let syncError = null;
  try { Runtime.getSync(); } catch (err) { syncError = err.message; }
  cb(null, {
    assetKeys: Object.keys(assets),
    assetPath: assets["/config.json"].path,
    assetText: assets["/config.json"].open(),
    functions,
    legacyFunctions: Functions,
    syncError,
    twilioKeys: Object.keys(Twilio),
    twiml: typeof (Twilio.twiml && Twilio.twiml.VoiceResponse),
    sameAsPackage: (() => { try { return require("twilio").twiml === Twilio.twiml && require("twilio") !== Twilio; } catch (err) { return null; } })(),
  });
};`;

const build = {
  functions: { 'api/inspect': inspect, 'private/helper': 'exports.helper = () => 1;' },
  assets: { '/config.json': '{"k":"v"}', '/nested/é.txt': 'x' },
};

test('getAssets: private assets keyed with "/", path and open(); getFunctions: keys without "/"', async () => {
  const worker = await startWorker(build);
  try {
    const result = await worker.invoke('api/inspect');
    const out = JSON.parse(result.body);
    assert.deepEqual(out.assetKeys, ['/config.json', '/nested/é.txt']);
    assert.ok(path.isAbsolute(out.assetPath));
    assert.equal(out.assetText, '{"k":"v"}');
    assert.deepEqual(Object.keys(out.functions), ['api/inspect', 'private/helper']);
    assert.equal(out.functions['private/helper'].path, worker.build.functionFiles['private/helper']);
    assert.deepEqual(out.legacyFunctions, out.functions);
    assert.match(out.syncError, /ACCOUNT_SID and AUTH_TOKEN are not set/);
  } finally {
    await worker.close();
  }
});

test("Twilio global: a shallow copy of the build's twilio plus Response", { skip: NO_TWILIO }, async () => {
  const worker = await startWorker(build);
  try {
    const out = JSON.parse((await worker.invoke('api/inspect')).body);
    assert.ok(out.twilioKeys.includes('twiml'));
    assert.ok(out.twilioKeys.includes('validateRequest'));
    assert.ok(out.twilioKeys.includes('Response'));
    assert.equal(out.twiml, 'function');
    assert.equal(out.sameAsPackage, true);
  } finally {
    await worker.close();
  }
});

test('without twilio in the build: Twilio is just { Response }, functions still run', async () => {
  const worker = await startWorker({ ...build, twilio: false });
  try {
    const out = JSON.parse((await worker.invoke('api/inspect')).body);
    assert.deepEqual(out.twilioKeys, ['Response']);
    assert.equal(out.twiml, 'undefined');
    assert.equal(out.sameAsPackage, null);
    assert.match(worker.stderr, /no twilio package/);
  } finally {
    await worker.close();
  }
});
