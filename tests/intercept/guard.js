// Preloaded into every Node client of tests/intercept.rs (NODE_OPTIONS=--require): any
// connection that is not to loopback throws and is recorded in $DEPOT_GUARD_LOG, which the
// test asserts on. The proxy variables route the clients to depot; this makes sure that
// nothing else leaves the machine, whatever the client does.
'use strict';
const fs = require('fs');
const net = require('net');

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+|localhost)$/i;

function target(args) {
  let first = args[0];
  if (Array.isArray(first)) first = first[0]; // net internals pass [options, cb]
  if (first && typeof first === 'object') {
    if (first.path) return null; // a unix socket
    return { host: first.host || 'localhost', port: first.port };
  }
  if (typeof first === 'string' && !/^\d+$/.test(first)) return null; // a unix socket path
  return { host: typeof args[1] === 'string' ? args[1] : 'localhost', port: first };
}

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(...args) {
  const to = target(args);
  if (to && !LOOPBACK.test(String(to.host).replace(/^\[|\]$/g, ''))) {
    const line = `blocked node connection to ${to.host}:${to.port} (pid ${process.pid})\n`;
    if (process.env.DEPOT_GUARD_LOG) fs.appendFileSync(process.env.DEPOT_GUARD_LOG, line);
    throw new Error(`intercept guard: ${line.trim()}`);
  }
  return connect.apply(this, args);
};
