#!/usr/bin/env python3
"""Opens N keep-alive connections to a proxy, makes one GET on each, and holds
them idle so the caller can measure the proxy's memory per idle connection.

    idle_conns.py HOST PORT N STATUS_FILE [--hold SECONDS] [--timeout SECONDS]

Connections are opened at most --batch at a time (so the listen backlog never
overflows); each sends one request and reads its whole response, so the proxy
then holds an ordinary idle keep-alive connection, not a half-open one. When
all N are idle the client writes "ok <N>" (or "fail <reason>") to STATUS_FILE
and holds them until SIGUSR1 (or --hold runs out). It then appends
"open <M>", the connections the proxy had not closed meanwhile, and closes
them all with RST (SO_LINGER 0) so no TIME_WAIT is left behind.
Everything is bounded: --timeout covers the opening phase, --hold the rest.
"""

import argparse
import os
import resource
import selectors
import signal
import socket
import struct
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: idle-conns\r\n\r\n"


class Conn:
    __slots__ = ("sock", "state", "buf")

    def __init__(self, sock):
        self.sock = sock
        self.state = "connecting"
        self.buf = b""


def response_complete(buf):
    """True when buf holds one whole response with a Content-Length body."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    head = buf[:head_end].decode("latin-1").lower()
    if not head.startswith("http/1.1 2"):
        raise ValueError("unexpected status line: " + head.split("\r\n", 1)[0])
    length = None
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip() == "content-length":
            length = int(value.strip())
        elif name.strip() == "connection" and "close" in value:
            raise ValueError("proxy asked to close the connection")
    if length is None:
        raise ValueError("response without Content-Length")
    return len(buf) >= head_end + 4 + length


def write_status(path, text, append=False):
    if append:
        with open(path, "a") as f:
            f.write(text + "\n")
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)  # the caller polls: never let it see half a line


def still_open(sock):
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("n", type=int)
    p.add_argument("status_file")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--hold", type=float, default=60.0)
    p.add_argument("--timeout", type=float, default=60.0)
    args = p.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.n + 64
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            write_status(args.status_file, f"fail fd limit {hard} < {need}")
            return 1
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

    # Blocked so sigtimedwait below receives them instead of a handler.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM, signal.SIGINT})
    sel = selectors.DefaultSelector()
    conns = []
    pending = 0  # connecting or waiting for the response
    idle = 0
    deadline = time.monotonic() + args.timeout
    error = None
    try:
        while idle < args.n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {idle} of {args.n} idle after {args.timeout:.0f}s")
            while pending < args.batch and len(conns) < args.n:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                err = s.connect_ex((args.host, args.port))
                if err not in (0, 115):  # EINPROGRESS
                    raise OSError(err, "connect: " + os.strerror(err))
                c = Conn(s)
                conns.append(c)
                sel.register(s, selectors.EVENT_WRITE, c)
                pending += 1
            for key, _ in sel.select(timeout=0.5):
                c = key.data
                if c.state == "connecting":
                    err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, "connect: " + os.strerror(err))
                    c.sock.send(REQUEST)  # tiny: fits in an empty send buffer
                    c.state = "reading"
                    sel.modify(c.sock, selectors.EVENT_READ, c)
                else:
                    data = c.sock.recv(65536)
                    if not data:
                        raise ConnectionError(f"proxy closed connection {len(conns)} early")
                    c.buf += data
                    if response_complete(c.buf):
                        c.state = "idle"
                        c.buf = b""
                        sel.unregister(c.sock)
                        pending -= 1
                        idle += 1
    except (OSError, ValueError, TimeoutError) as e:
        error = f"{type(e).__name__}: {e}"

    try:
        if error is None:
            write_status(args.status_file, f"ok {idle}")
            signal.sigtimedwait({signal.SIGUSR1, signal.SIGTERM, signal.SIGINT}, args.hold)
            write_status(args.status_file, f"open {sum(still_open(c.sock) for c in conns)}",
                         append=True)
        else:
            write_status(args.status_file, f"fail {error} (idle {idle})")
    finally:
        linger = struct.pack("ii", 1, 0)
        for c in conns:
            try:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                c.sock.close()
            except OSError:
                pass
    return 0 if error is None else 1


if __name__ == "__main__":
    sys.exit(main())
