// twilio-node, unmodified, through `depot serve --intercept-twilio`: no baseUrl, only
// HTTP_PROXY and NODE_EXTRA_CA_CERTS (and TWILIO_EDGE/TWILIO_REGION when set) in the
// environment. Run by tests/intercept.rs; prints "intercept-node: N checks passed" last.
'use strict';
const net = require('net');
const twilio = require('twilio');

const SID = process.env.DEPOT_ACCOUNT_SID;
const TOKEN = process.env.DEPOT_AUTH_TOKEN;
const HOST = process.env.EXPECT_HOST;
const PREFIX = process.env.NAME_PREFIX || 'node';
let checks = 0;

function check(condition, what) {
  if (!condition) {
    console.error(`intercept-node: FAILED: ${what}`);
    process.exit(1);
  }
  checks += 1;
}

async function main() {
  // The guard is live: a connection off the machine throws (and is logged, as the test expects).
  let refused = null;
  try {
    net.connect(443, '192.0.2.1');
  } catch (err) {
    refused = err;
  }
  check(refused && /intercept guard/.test(refused.message), 'the guard refuses 192.0.2.1');

  const client = twilio(SID, TOKEN);
  const base = `https://${HOST}/v1/Services`;
  const names = [0, 1, 2, 3, 4].map((i) => `${PREFIX}-svc-${i}`);
  const created = [];
  for (const name of names) {
    created.push(
      await client.serverless.v1.services.create({ uniqueName: name, friendlyName: name.toUpperCase() })
    );
  }
  for (const service of created) {
    check(service.sid.startsWith('ZS'), 'service sid');
    check(service.url === `${base}/${service.sid}`, `service url ${service.url}`);
  }
  const page = await client.serverless.v1.services.page({ pageSize: 2 });
  check(page.nextPageUrl && page.nextPageUrl.startsWith(`${base}?`), `next_page_url ${page.nextPageUrl}`);
  // list() follows next_page_url through the proxy: three pages of two.
  const listed = await client.serverless.v1.services.list({ pageSize: 2 });
  const listedNames = new Set(listed.map((s) => s.uniqueName));
  check(names.every((n) => listedNames.has(n)), 'every service listed across pages');

  const fetched = await client.serverless.v1.services(created[0].sid).fetch();
  check(fetched.uniqueName === names[0] && fetched.friendlyName === names[0].toUpperCase(), 'fetch');

  const service = client.serverless.v1.services(created[0].sid);
  const assets = [];
  for (const i of [0, 1, 2]) assets.push(await service.assets.create({ friendlyName: `asset-${i}` }));
  for (const asset of assets) {
    check(asset.url === `${base}/${created[0].sid}/Assets/${asset.sid}`, `asset url ${asset.url}`);
  }
  const listedAssets = await service.assets.list({ pageSize: 2 });
  check(
    JSON.stringify(listedAssets.map((a) => a.sid).sort()) === JSON.stringify(assets.map((a) => a.sid).sort()),
    'assets across pages'
  );
  check((await service.assets(assets[1].sid).fetch()).friendlyName === 'asset-1', 'asset fetch');

  const account = await client.api.v2010.accounts(SID).fetch();
  check(account.sid === SID && account.status === 'active', '2010 account fetch');

  for (const s of created) check(await client.serverless.v1.services(s.sid).remove(), 'remove');
  console.log(`intercept-node: ${checks} checks passed`);
}

main().catch((err) => {
  console.error('intercept-node: FAILED:', err && (err.stack || err));
  process.exit(1);
});
