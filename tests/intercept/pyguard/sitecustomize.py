"""Loaded at start by every Python client of tests/intercept.rs (this directory is on
PYTHONPATH): any socket connection that is not to loopback raises and is recorded in
$DEPOT_GUARD_LOG, which the test asserts on. The proxy variables route the client to depot;
this makes sure that nothing else leaves the machine."""

import ipaddress
import os
import socket

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _allowed(sock, address):
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return True  # unix sockets stay on the machine
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(address):
    line = f"blocked python connection to {address!r} (pid {os.getpid()})\n"
    log = os.environ.get("DEPOT_GUARD_LOG")
    if log:
        with open(log, "a") as f:
            f.write(line)
    raise ConnectionRefusedError(f"intercept guard: {line.strip()}")


def connect(self, address):
    if not _allowed(self, address):
        _refuse(address)
    return _connect(self, address)


def connect_ex(self, address):
    if not _allowed(self, address):
        _refuse(address)
    return _connect_ex(self, address)


socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
