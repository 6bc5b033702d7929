#!/usr/bin/env python3
"""Loopback upstream for the large-body streaming check (scripts/stream-check.sh).

GET /download?bytes=N  answers N zero bytes with Content-Length, 64 KiB at a time.
POST /upload           reads and discards the request body (Content-Length or
                       chunked), answers its size.
Listens on 127.0.0.1 only; exits after `max_requests` requests.
"""
import http.server
import sys

CHUNK = b"\0" * 65536


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        n = 1 << 30
        if "bytes=" in self.path:
            n = int(self.path.split("bytes=")[1].split("&")[0])
        self.send_response(200)
        self.send_header("Content-Length", str(n))
        self.end_headers()
        left = n
        while left > 0:
            part = CHUNK if left >= len(CHUNK) else CHUNK[:left]
            self.wfile.write(part)
            left -= len(part)

    def do_POST(self):
        total = 0
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                left = size
                while left > 0:
                    data = self.rfile.read(min(left, 65536))
                    if not data:
                        return
                    total += len(data)
                    left -= len(data)
                self.rfile.readline()
            left = 0
        else:
            left = int(self.headers.get("Content-Length", "0"))
        while left > 0:
            data = self.rfile.read(min(left, 65536))
            if not data:
                break
            total += len(data)
            left -= len(data)
        body = str(total).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    port = int(sys.argv[1])
    max_requests = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    server = http.server.HTTPServer(("127.0.0.1", port), Handler)
    for _ in range(max_requests):
        server.handle_request()


if __name__ == "__main__":
    main()
