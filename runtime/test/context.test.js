'use strict';
// context (RUNTIME §2.4) and the credential-dependent globals (§2.5).
const { test, before, after } = require('node:test');
const { startWorker, assert, NO_TWILIO, SERVICE_SID, ENVIRONMENT_SID } = require('./harness');

const inspect = `
exports.handler = (context, event, callback) => {
  let client = null;
  let clientError = null;
  try {
    const c = context.getTwilioClient({ region: 'ie1' });
    client = { accountSid: c.accountSid, region: c.region, lazyLoading: c.opts.lazyLoading };
  } catch (err) {
    clientError = err.message;
  }
  callback(null, {
    keys: Object.keys(context),
    context,
    client,
    clientError,
    globalClient: typeof twilioClient === 'undefined' ? null : twilioClient.accountSid,
    env: { GREETING: process.env.GREETING ?? null, HOME: process.env.HOME ?? null },
  });
};`;

const SID = 'AC' + '1'.repeat(32);
const TOKEN = 't'.repeat(32);

let worker;
before(async () => {
  worker = await startWorker({ functions: { inspect } });
});
after(() => worker.close());

async function run(context) {
  const result = await worker.invoke('inspect', { context });
  assert.equal(result.status, 200, result.body + result.error);
  return JSON.parse(result.body);
}

test('metadata first, then Variables, getTwilioClient last; no credentials unless sent', async () => {
  const out = await run({ vars: { GREETING: 'hi', OTHER: 'x' } });
  assert.deepEqual(out.keys, [
    'PATH', 'DOMAIN_NAME', 'SERVICE_SID', 'ENVIRONMENT_SID', 'GREETING', 'OTHER', 'getTwilioClient',
  ]);
  assert.deepEqual(out.context, {
    PATH: '/inspect',
    DOMAIN_NAME: 'x-1234-dev.localhost:4000',
    SERVICE_SID,
    ENVIRONMENT_SID,
    GREETING: 'hi',
    OTHER: 'x',
  });
});

test('Variables are mirrored into process.env; a removed one takes the worker\'s value back', async () => {
  const home = (await run({ vars: {} })).env.HOME;
  let out = await run({ vars: { GREETING: 'hi', HOME: '/elsewhere' } });
  assert.deepEqual(out.env, { GREETING: 'hi', HOME: '/elsewhere' });
  out = await run({ vars: { GREETING: 'hello' } });
  assert.deepEqual(out.env, { GREETING: 'hello', HOME: home });
  out = await run({ vars: {} });
  assert.deepEqual(out.env, { GREETING: null, HOME: home });
});

test('a Variable named PATH wins', async () => {
  const out = await run({ vars: { PATH: '/from-variable' } });
  assert.equal(out.context.PATH, '/from-variable');
});

test('getTwilioClient throws a clear error without credentials; no twilioClient global', async () => {
  const out = await run({});
  assert.equal(out.client, null);
  assert.match(out.clientError, /ACCOUNT_SID and AUTH_TOKEN are not set/);
  assert.equal(out.globalClient, null);
});

test('credentials: present only when sent; client built lazily with the options merged', { skip: NO_TWILIO }, async () => {
  const out = await run({ ACCOUNT_SID: SID, AUTH_TOKEN: TOKEN });
  assert.equal(out.context.ACCOUNT_SID, SID);
  assert.equal(out.context.AUTH_TOKEN, TOKEN);
  assert.deepEqual(out.client, { accountSid: SID, region: 'ie1', lazyLoading: true });
  assert.equal(out.globalClient, SID);
  // context is per invocation: the next one without credentials has none, and no global client
  const next = await run({});
  assert.equal('ACCOUNT_SID' in next.context, false);
  assert.equal(next.globalClient, null);
});

test('Variables named ACCOUNT_SID/AUTH_TOKEN override injected credentials', { skip: NO_TWILIO }, async () => {
  const other = 'AC' + '2'.repeat(32);
  const out = await run({ ACCOUNT_SID: SID, AUTH_TOKEN: TOKEN, vars: { ACCOUNT_SID: other } });
  assert.equal(out.context.ACCOUNT_SID, other);
  assert.equal(out.client.accountSid, other);
});

test('twilioClient global only for credentials of a valid shape', { skip: NO_TWILIO }, async () => {
  const out = await run({ ACCOUNT_SID: SID, AUTH_TOKEN: 'short' });
  assert.equal(out.globalClient, null);
});

test('Variable changes apply to the next invocation without a restart', async () => {
  assert.equal((await run({ vars: { GREETING: 'one' } })).context.GREETING, 'one');
  assert.equal((await run({ vars: { GREETING: 'two' } })).context.GREETING, 'two');
  assert.equal((await run({ vars: {} })).context.GREETING, undefined);
});
