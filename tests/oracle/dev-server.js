// The oracle: `LocalDevelopmentServer` of @twilio/runtime-handler/dev (the local emulator that
// `twilio-run start` uses), run in-process over a fixture folder, used as a black box by
// tests/oracle.rs. Usage: node dev-server.js <fixture-dir> [port]; prints `listening <port>`.
//
// Fixture layout, as twilio-run names files: <dir>/functions/<name>[.private|.protected].js is
// the function /<name>; <dir>/assets/<file> is the asset /<file>, with the same suffixes.

'use strict';

const fs = require('fs');
const path = require('path');
const { LocalDevelopmentServer } = require('@twilio/runtime-handler/dev');

const [fixtures, wanted = '0'] = process.argv.slice(2);
if (!fixtures) {
  console.error('usage: node dev-server.js <fixture-dir> [port]');
  process.exit(2);
}

function resources(dir, isFunction) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).sort().map((file) => {
    const filePath = path.resolve(dir, file);
    let name = isFunction ? file.replace(/\.js$/, '') : file;
    let access = 'public';
    for (const level of ['private', 'protected']) {
      const marker = `.${level}`;
      if (isFunction && name.endsWith(marker)) {
        name = name.slice(0, -marker.length);
        access = level;
      } else if (!isFunction && name.includes(`${marker}.`)) {
        name = name.replace(`${marker}.`, '.');
        access = level;
      }
    }
    return { name, path: `/${name}`, access, content: '', filePath };
  });
}

const routes = {
  functions: resources(path.join(fixtures, 'functions'), true),
  assets: resources(path.join(fixtures, 'assets'), false),
};

async function main() {
  // The port is known only after listening; the config's url takes the one asked for.
  const config = {
    baseDir: __dirname, // node_modules with the pinned `twilio` lives here
    env: {},
    port: Number(wanted),
    url: `http://localhost:${wanted}`,
    detailedLogs: false,
    live: false,
    logs: false,
    legacyMode: false,
    appName: 'depot-oracle',
    forkProcess: false,
    enableDebugLogs: false,
    routes,
  };
  const server = new LocalDevelopmentServer(Number(wanted), config);
  const listener = server.getApp().listen(Number(wanted), '127.0.0.1', () => {
    console.log(`listening ${listener.address().port}`);
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
