#!/usr/bin/env python3
"""fault-proxy.py: an HTTP/1.1 proxy for regsync's fault tests (python3 standard library only).

usage: fault-proxy.py LISTEN_PORT UPSTREAM_HOST:PORT FAULT_FILE [LOG_FILE]

Sits in front of an HTTP server (the S3 test server) and injects one fault per *request*, also on
kept-alive connections: for every request it reads the whole request, then pops the first line of
FAULT_FILE (missing or empty file: pass) and acts on it:

  pass          forward the request and the response unchanged
  500 | 503     answer InternalError / SlowDown as S3 does (XML body), keep the connection
  NNN           any other status code, with a matching S3 error code when known (403 AccessDenied...)
  reset         close the connection with a TCP RST, no answer
  close         close the connection without an answer
  hang          never answer (the connection stays open until the client gives up)
  delay:MS      wait MS milliseconds, then pass
  truncate:N    forward the request, send only the first N bytes of the response, then close

A line "FAULT@METHOD" (e.g. "500@PUT") applies only to a request with that method; other requests
pass and leave it first in line. SigV4 signatures stay valid: the request is forwarded byte for
byte (the Host header included). LISTEN_PORT 0 picks a free port; the first line on stdout is
"listening PORT". LOG_FILE gets one line per request, "METHOD PATH -> FAULT", and one per accepted
connection, "CONNECTION n".
"""
import os
import socket
import sys
import threading
import time

LISTEN, UPSTREAM, FAULTS = int(sys.argv[1]), sys.argv[2], sys.argv[3]
LOG = sys.argv[4] if len(sys.argv) > 4 else None
UP_HOST, UP_PORT = UPSTREAM.rsplit(":", 1)[0], int(UPSTREAM.rsplit(":", 1)[1])
lock = threading.Lock()
S3_CODES = {400: ("Bad Request", "BadRequest"), 403: ("Forbidden", "AccessDenied"),
            404: ("Not Found", "NoSuchKey"), 409: ("Conflict", "OperationAborted"),
            412: ("Precondition Failed", "PreconditionFailed"), 429: ("Too Many Requests", "SlowDown"),
            500: ("Internal Server Error", "InternalError"), 502: ("Bad Gateway", "BadGateway"),
            503: ("Slow Down", "SlowDown"), 504: ("Gateway Timeout", "GatewayTimeout")}


def log(line):
    if LOG:
        with lock, open(LOG, "a") as f:
            f.write(line + "\n")


def next_fault(method):
    with lock:
        try:
            with open(FAULTS) as f:
                lines = [l.strip() for l in f.read().splitlines() if l.strip()]
        except FileNotFoundError:
            return "pass"
        if not lines:
            return "pass"
        fault, _, only = lines[0].partition("@")
        if only and only.upper() != method.upper():
            return "pass"
        tmp = FAULTS + ".tmp"
        with open(tmp, "w") as f:
            f.write("".join(l + "\n" for l in lines[1:]))
        os.replace(tmp, FAULTS)
        return fault


class Conn:
    """A socket with a read buffer."""

    def __init__(self, sock):
        self.s, self.buf = sock, b""

    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError
        self.buf += d

    def read_until(self, sep):
        while sep not in self.buf:
            self.fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_n(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_all(self):
        try:
            while True:
                self.fill()
        except (EOFError, OSError):
            pass
        out, self.buf = self.buf, b""
        return out


def headers_of(head):
    lines = head.split(b"\r\n")
    h = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        if k:
            h[k.strip().lower()] = v.strip()
    return lines[0], h


def read_body(c, h, no_body=False):
    if no_body:
        return b""
    if h.get(b"transfer-encoding", b"").lower() == b"chunked":
        out = b""
        while True:
            size_line = c.read_until(b"\r\n")
            out += size_line
            n = int(size_line.split(b";")[0].strip(), 16)
            if n == 0:
                while True:  # trailers up to the empty line
                    t = c.read_until(b"\r\n")
                    out += t
                    if t == b"\r\n":
                        return out
            out += c.read_n(n + 2)
    if b"content-length" in h:
        return c.read_n(int(h[b"content-length"]))
    return None  # until close


def error_reply(code):
    reason, s3code = S3_CODES.get(code, ("Error", "Error%d" % code))
    body = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected by fault-proxy'
            '</Message><RequestId>fault-proxy</RequestId></Error>' % s3code).encode()
    return ("HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n"
            "x-amz-request-id: fault-proxy\r\n\r\n" % (code, reason, len(body))).encode() + body


def handle(client_sock, n):
    log("CONNECTION %d" % n)
    client = Conn(client_sock)
    upstream = None
    try:
        while True:
            try:
                head = client.read_until(b"\r\n\r\n")
            except (EOFError, OSError):
                return
            first, h = headers_of(head)
            parts = first.split(b" ")
            method = parts[0].decode(errors="replace")
            path = parts[1].decode(errors="replace") if len(parts) > 1 else "?"
            body = read_body(client, h) or b""
            fault = next_fault(method)
            log("%s %s -> %s" % (method, path, fault))
            kind, _, arg = fault.partition(":")
            if kind.isdigit():
                client_sock.sendall(error_reply(int(kind)))
                continue
            if kind == "reset":
                client_sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                return
            if kind == "close":
                return
            if kind == "hang":
                while True:
                    time.sleep(3600)
            if kind == "delay":
                time.sleep(int(arg) / 1000.0)
            limit = int(arg) if kind == "truncate" else None
            if upstream is None:
                upstream = Conn(socket.create_connection((UP_HOST, UP_PORT)))
                upstream.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            upstream.s.sendall(head + body)
            rhead = upstream.read_until(b"\r\n\r\n")
            status_line, rh = headers_of(rhead)
            status = int(status_line.split(b" ")[1])
            rbody = read_body(upstream, rh, no_body=(method == "HEAD" or status in (204, 304) or status < 200))
            close_after = rbody is None or rh.get(b"connection", b"").lower() == b"close"
            if rbody is None:
                rbody = upstream.read_all()
            reply = rhead + rbody
            if limit is not None:
                client_sock.sendall(reply[:limit])
                return
            client_sock.sendall(reply)
            if close_after:
                return
    except (OSError, EOFError, ValueError, IndexError):
        return
    finally:
        for s in (client_sock, upstream.s if upstream else None):
            if s:
                try:
                    s.close()
                except OSError:
                    pass


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", LISTEN))
    srv.listen(128)
    print("listening %d" % srv.getsockname()[1], flush=True)
    n = 0
    while True:
        c, _ = srv.accept()
        n += 1
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=handle, args=(c, n), daemon=True).start()


if __name__ == "__main__":
    main()
