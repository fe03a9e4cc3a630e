#!/usr/bin/env node
// Deploys a local Twilio Serverless project to depot with the real
// @twilio-labs/serverless-api client (the library behind `twilio-run deploy`).
//
// Environment:
//   PORT                depot's port on 127.0.0.1 (required)
//   DEPOT_ACCOUNT_SID   Account SID used for Basic auth (required)
//   DEPOT_AUTH_TOKEN    Auth Token used for Basic auth (required)
//   PROJECT_DIR         the project folder (default: ./project next to this file)
//   DEPLOY_ENV          domain suffix of the Environment (default: dev)
//   DEPOT_DEPLOY_QUIET  when set, no request trace on stderr
//   DEPLOY_TIMEOUT_MS   give up after this long (default 120000): the library's
//                       build poll keeps looping after its own 5-minute timeout
//
// Prints exactly one JSON line on stdout describing the deployment and exits 0;
// on failure prints the error on stderr and exits 1.

'use strict';

const fs = require('fs');
const path = require('path');

// The library hard-wires https://serverless.twilio.com/v1 (API) and
// https://serverless-upload.twilio.com/v1 (uploads). Every one of its modules
// reads the base through this module's exports object at call time
// (`api_client_1.getApiUrl(...)`), so replacing the export before the client
// is constructed sends both kinds of request to depot.
const apiClient = require('@twilio-labs/serverless-api/dist/api/utils/api-client');
const { TwilioServerlessApiClient } = require('@twilio-labs/serverless-api');

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`environment variable ${name} is required`);
  }
  return value;
}

// Minimal .env reader (KEY=VALUE lines, # comments, optional quotes), applying
// the toolkit's rules: empty values dropped, ACCOUNT_SID/AUTH_TOKEN never sent.
function readDotEnv(file) {
  const env = {};
  if (!fs.existsSync(file)) {
    return env;
  }
  for (const raw of fs.readFileSync(file, 'utf8').split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) {
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) {
      continue;
    }
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) {
      value = value.slice(1, -1);
    }
    if (value === '' || key === 'ACCOUNT_SID' || key === 'AUTH_TOKEN') {
      continue;
    }
    env[key] = value;
  }
  return env;
}

function describe(resource, projectDir) {
  return {
    sid: resource.sid,
    path: resource.path,
    access: resource.access,
    file: path.relative(projectDir, resource.filePath).split(path.sep).join('/'),
  };
}

async function main() {
  const timeoutMs = Number(process.env.DEPLOY_TIMEOUT_MS || 120000);
  setTimeout(() => {
    process.stderr.write(`deploy failed: no result after ${timeoutMs} ms\n`);
    process.exit(1);
  }, timeoutMs).unref();

  const port = required('PORT');
  const username = required('DEPOT_ACCOUNT_SID');
  const password = required('DEPOT_AUTH_TOKEN');
  const projectDir = path.resolve(process.env.PROJECT_DIR || path.join(__dirname, 'project'));
  const functionsEnv = process.env.DEPLOY_ENV || 'dev';
  const base = `http://127.0.0.1:${port}`;

  const hostsAsked = new Set();
  apiClient.getApiUrl = (config, product = 'serverless', apiVersion = 'v1') => {
    hostsAsked.add(product);
    return `${base}/${apiVersion}`;
  };

  const client = new TwilioServerlessApiClient({ username, password });
  const prefix = client.getClient().defaults.options.prefixUrl;
  if (!String(prefix).startsWith(base)) {
    throw new Error(`URL redirection did not take effect: prefixUrl is ${prefix}`);
  }

  // One stderr line per request, plus the body of every error answer: this is
  // what the Rust test shows when a deploy fails.
  if (!process.env.DEPOT_DEPLOY_QUIET) {
    client.client = client.client.extend({
      hooks: {
        afterResponse: [
          (response) => {
            const { method } = response.request.options;
            const url = new URL(response.requestUrl.toString());
            let line = `[deploy] ${method} ${url.pathname}${url.search} -> ${response.statusCode}`;
            if (response.statusCode >= 400) {
              line += ` ${typeof response.body === 'string' ? response.body : JSON.stringify(response.body)}`;
            }
            process.stderr.write(line + '\n');
            return response;
          },
        ],
      },
    });
  }
  client.on('status-update', ({ message }) => {
    process.stderr.write(`[deploy] status: ${message}\n`);
  });

  const pkgJson = JSON.parse(fs.readFileSync(path.join(projectDir, 'package.json'), 'utf8'));
  const env = readDotEnv(path.join(projectDir, '.env'));

  const result = await client.deployLocalProject({
    username,
    password,
    cwd: projectDir,
    envPath: path.join(projectDir, '.env'),
    env,
    pkgJson,
    serviceName: pkgJson.name,
    functionsEnv,
    overrideExistingService: true,
  });

  process.stdout.write(
    JSON.stringify({
      serviceSid: result.serviceSid,
      serviceName: result.serviceName,
      environmentSid: result.environmentSid,
      buildSid: result.buildSid,
      domain: result.domain,
      runtime: result.runtime === undefined ? null : result.runtime,
      env,
      hostsAsked: [...hostsAsked].sort(),
      functions: result.functionResources.map((r) => describe(r, projectDir)),
      assets: result.assetResources.map((r) => describe(r, projectDir)),
    }) + '\n',
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    let text = err && err.stack ? err.stack : String(err);
    if (err && err.details) {
      text += `\ndetails: ${JSON.stringify(err.details)}`;
    }
    if (err && err.url) {
      text += `\nurl: ${err.url}`;
    }
    process.stderr.write(`deploy failed: ${text}\n`);
    process.exit(1);
  },
);
