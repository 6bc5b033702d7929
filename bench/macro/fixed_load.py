#!/usr/bin/env python3
"""Makes exactly N keep-alive GETs over C connections, as wrk would but with a
fixed request count, so per-request costs measured around it (callgrind
instruction counts, strace syscall counts) divide by a known number.

    fixed_load.py HOST PORT CONNECTIONS REQUESTS

Each connection sends one request, reads its whole Content-Length response
and sends the next. Exits non-zero on any non-200 response or socket error.
"""

import selectors
import socket
import sys

HOST, PORT, CONNS, TOTAL = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
REQUEST = ("GET / HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (HOST, PORT)).encode()


def response_length(buf):
    """Length of the whole response at the start of buf, or None if incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1").lower()
    if not head.startswith("http/1.1 200"):
        raise SystemExit("unexpected response: " + head.split("\r\n", 1)[0])
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip() == "content-length":
            total = end + 4 + int(value)
            return total if len(buf) >= total else None
    raise SystemExit("response without Content-Length")


def main():
    sel = selectors.DefaultSelector()
    sent = done = 0
    for _ in range(min(CONNS, TOTAL)):
        s = socket.create_connection((HOST, PORT))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(REQUEST)
        sent += 1
        sel.register(s, selectors.EVENT_READ, bytearray())
    while done < TOTAL:
        for key, _ in sel.select(timeout=30):
            data = key.fileobj.recv(65536)
            if not data:
                raise SystemExit("connection closed by the proxy")
            buf = key.data
            buf += data
            n = response_length(bytes(buf))
            if n is None:
                continue
            del buf[:n]
            done += 1
            if sent < TOTAL:
                key.fileobj.sendall(REQUEST)
                sent += 1
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    print(done)


if __name__ == "__main__":
    main()
