#!/usr/bin/env python3
"""Checks a frontend speaking the generate protocol of issue 7 over loopback.

    check.py HOST:PORT [--slow]

Works against bench/peers/tokio_frontend and tidepool's examples/frontend
alike. Expected generate output is computed here from each prompt, with a
tokenizer written independently of the servers' (a regular expression).
--slow adds the 30 s idle-timeout check. Exits 1 if any check fails.
"""

import argparse
import json
import random
import re
import socket
import sys
import time

VOCABULARY = 50257
CHUNK_LIMIT = 4096
# A token is a run of ASCII alphanumerics or one other byte that is not
# whitespace; whitespace is C's isspace: space, \t, \n, \v, \f, \r.
TOKEN = re.compile(rb"[A-Za-z0-9]+|[^A-Za-z0-9 \t\n\v\f\r]")


def fnv1a(data):
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def token_ids(prompt):
    return [fnv1a(t) % VOCABULARY for t in TOKEN.findall(prompt.encode("utf-8"))]


def render(ids):
    lines = [ids[i:i + 16] for i in range(0, len(ids), 16)]
    return "".join("".join(f"{i} " for i in line) + "\n" for line in lines).encode()


class Response:
    def __init__(self, status, headers, body, chunks):
        self.status = status
        self.headers = headers  # lower-case name -> value
        self.body = body
        self.chunks = chunks  # sizes of the data chunks, or None if not chunked

    def closes(self):
        return "close" in self.headers.get("connection", "").lower()


class Connection:
    def __init__(self, address, timeout=10.0):
        self.sock = socket.create_connection(address, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("server closed the connection")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def response(self):
        status_line = self._line().decode("latin-1")
        version, status = status_line.split(" ", 2)[:2]
        if version != "HTTP/1.1":
            raise ValueError(f"status line {status_line!r}")
        headers = {}
        while line := self._line():
            name, value = line.decode("latin-1").split(":", 1)
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body, chunks = b"", []
            while size := int(self._line().split(b";")[0], 16):
                chunks.append(size)
                body += self._exactly(size)
                if self._exactly(2) != b"\r\n":
                    raise ValueError("chunk not followed by CRLF")
            if self._line() != b"":  # no trailers expected
                raise ValueError("trailer after the last chunk")
            return Response(int(status), headers, body, chunks)
        length = int(headers.get("content-length", "0"))
        return Response(int(status), headers, self._exactly(length), None)

    def at_eof(self):
        """True once the server has closed (after any buffered bytes)."""
        if self.buf:
            return False
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def generate_request(prompt=None, body=None, extra=""):
    if body is None:
        body = json.dumps({"prompt": prompt}).encode()
    head = (f"POST /v1/generate HTTP/1.1\r\nHost: check\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n")
    return head.encode() + body


def get_request(path, version="HTTP/1.1", extra=""):
    return f"GET {path} {version}\r\nHost: check\r\n{extra}\r\n".encode()


def big_prompt(size):
    """Deterministic text of `size` bytes or so: words, digits, punctuation,
    every kind of whitespace and multi-byte UTF-8."""
    rng = random.Random(7)
    pieces = ["the", "Model", "tok3n", "x", "42", "ab12CD", ",", ".", "!", "{", "\"",
              "\\", "é", "日本", "—", " ", " ", "  ", "\t", "\n", "\r\n", "\v", "\f"]
    out, n = [], 0
    while n < size:
        piece = rng.choice(pieces)
        out.append(piece)
        n += len(piece.encode())
    return "".join(out)


class Checker:
    def __init__(self, address):
        self.address = address
        self.failures = 0

    def check(self, name, ok, detail=""):
        print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f": {detail}" if detail and not ok else ""))
        if not ok:
            self.failures += 1

    def run(self, name, test):
        try:
            test()
        except Exception as e:  # a dropped connection or garbage is a failure too
            self.check(name, False, f"{type(e).__name__}: {e}")

    def generated(self, name, response, prompt):
        expected = render(token_ids(prompt))
        problems = []
        if response.status != 200:
            problems.append(f"status {response.status}")
        if response.chunks is None:
            problems.append("not chunked")
        elif any(size > CHUNK_LIMIT for size in response.chunks):
            problems.append(f"chunk over {CHUNK_LIMIT} bytes: {max(response.chunks)}")
        if not response.headers.get("content-type", "").startswith("text/plain"):
            problems.append(f"content-type {response.headers.get('content-type')!r}")
        if response.body != expected:
            at = next((i for i, (a, b) in enumerate(zip(response.body, expected)) if a != b),
                      min(len(response.body), len(expected)))
            problems.append(f"body differs at byte {at} of {len(expected)}: "
                            f"{response.body[at:at + 40]!r} expected {expected[at:at + 40]!r}")
        self.check(name, not problems, "; ".join(problems))

    def rejected(self, name, request, status):
        """`request` must get `status` with Connection: close, then a close."""
        conn = Connection(self.address)
        try:
            conn.send(request)
            r = conn.response()
            ok = r.status == status and r.closes() and conn.at_eof()
            self.check(name, ok, f"status {r.status}, connection {r.headers.get('connection')!r}, "
                                 f"closed {conn.at_eof()}")
        finally:
            conn.close()

    def test_hi_you(self):
        # The example of the issue, by hand: three tokens "Hi", ",", "you".
        ids = [fnv1a(t) % VOCABULARY for t in (b"Hi", b",", b"you")]
        assert token_ids("Hi, you") == ids
        conn = Connection(self.address)
        conn.send(generate_request("Hi, you"))
        r = conn.response()
        self.generated(f"generate 'Hi, you' -> {' '.join(map(str, ids))}", r, "Hi, you")
        self.check("  exact body", r.body == f"{ids[0]} {ids[1]} {ids[2]} \n".encode(), repr(r.body))
        conn.close()

    def test_keep_alive_edge_cases(self):
        # One connection for all of these: keep-alive must hold across them,
        # including after a 400 for a bad JSON body (the framing was fine).
        conn = Connection(self.address)
        cases = {
            "empty prompt": "",
            "whitespace only": " \t\n\r\v\f",
            "16 tokens (one full line)": " ".join(f"w{i}" for i in range(16)),
            "17 tokens": " ".join(f"w{i}" for i in range(17)),
            "escapes and UTF-8": "a\"b\\c/d\u00e9\u65e5\U0001F600\u000b\u000cz9",
            "punctuation runs": "x+=y;;(z)->w...",
        }
        for label, prompt in cases.items():
            conn.send(generate_request(prompt))
            self.generated(f"generate {label}", conn.response(), prompt)
        for label, body in {"invalid JSON": b"{\"prompt\": ", "missing prompt": b"{\"text\": \"a\"}",
                            "non-string prompt": b"{\"prompt\": 5}", "not an object": b"[1]"}.items():
            conn.send(generate_request(body=body))
            r = conn.response()
            self.check(f"{label} -> 400, connection kept", r.status == 400 and not r.closes(),
                       f"status {r.status}")
        conn.send(get_request("/healthz"))
        r = conn.response()
        self.check("healthz on the same connection -> 200 ok", r.status == 200 and r.body == b"ok\n"
                   and r.headers.get("content-length") == "3", f"{r.status} {r.body!r}")
        conn.close()

    def test_big_prompt(self):
        prompt = big_prompt(200 * 1024)
        conn = Connection(self.address)
        conn.send(generate_request(prompt))
        r = conn.response()
        self.generated(f"generate 200 KB prompt ({len(token_ids(prompt))} tokens, "
                       f"{len(r.chunks or [])} chunks)", r, prompt)
        self.check("  streamed in several chunks", r.chunks is not None and len(r.chunks) > 1)
        conn.close()

    def test_split_request(self):
        # Head and body in separate segments, the body itself in two pieces.
        prompt = "split across reads, 123"
        request = generate_request(prompt)
        head_end = request.index(b"\r\n\r\n") + 4
        conn = Connection(self.address)
        for piece in (request[:10], request[10:head_end], request[head_end:head_end + 5],
                      request[head_end + 5:]):
            conn.send(piece)
            time.sleep(0.05)
        self.generated("request split across reads", conn.response(), prompt)
        conn.close()

    def test_pipelining(self):
        prompts = ["first request", "second, request!"]
        conn = Connection(self.address)
        conn.send(generate_request(prompts[0]) + generate_request(prompts[1]) + get_request("/healthz"))
        self.generated("pipelined generate 1 of 2", conn.response(), prompts[0])
        self.generated("pipelined generate 2 of 2", conn.response(), prompts[1])
        r = conn.response()
        self.check("pipelined healthz after them", r.status == 200 and r.body == b"ok\n")
        conn.close()

    def test_routes(self):
        conn = Connection(self.address)
        for label, request, status in [
            ("unknown path -> 404", get_request("/nope"), 404),
            ("GET /v1/generate -> 405", get_request("/v1/generate"), 405),
            ("POST /healthz -> 405", b"POST /healthz HTTP/1.1\r\nHost: check\r\nContent-Length: 2\r\n\r\n{}", 405),
        ]:
            conn.send(request)
            r = conn.response()
            self.check(label, r.status == status and not r.closes(), f"status {r.status}")
        conn.send(get_request("/metrics"))
        r = conn.response()
        match = re.search(rb"^process_resident_memory_bytes (\d+)$", r.body, re.M)
        self.check("metrics has process_resident_memory_bytes > 0",
                   r.status == 200 and match is not None and int(match.group(1)) > 0,
                   f"status {r.status}, body {r.body[:200]!r}")
        conn.close()

    def test_connection_close(self):
        for label, request in [
            ("HTTP/1.1 Connection: close", get_request("/healthz", extra="Connection: close\r\n")),
            ("HTTP/1.0 closes by default", get_request("/healthz", version="HTTP/1.0")),
        ]:
            conn = Connection(self.address)
            conn.send(request)
            r = conn.response()
            self.check(f"{label} -> 200 then close", r.status == 200 and conn.at_eof())
            conn.close()
        conn = Connection(self.address)
        conn.send(get_request("/healthz", version="HTTP/1.0", extra="Connection: keep-alive\r\n")
                  + get_request("/healthz"))
        ok = conn.response().status == 200 and conn.response().status == 200
        self.check("HTTP/1.0 with Connection: keep-alive stays open", ok)
        conn.close()

    def test_bad_requests(self):
        self.rejected("malformed request line -> 400, close", b"GARBAGE\x01 / HTTP/1.1\r\n\r\n", 400)
        self.rejected("malformed header -> 400, close", b"GET /healthz HTTP/1.1\r\nNo colon\r\n\r\n", 400)
        self.rejected("bad Content-Length -> 400, close",
                      b"POST /v1/generate HTTP/1.1\r\nContent-Length: 12x\r\n\r\n", 400)
        self.rejected("conflicting Content-Lengths -> 400, close",
                      b"POST /v1/generate HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400)
        self.rejected("Transfer-Encoding -> 501, close",
                      b"POST /v1/generate HTTP/1.1\r\nHost: check\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501)
        self.rejected("body over 8 MiB -> 413, close",
                      f"POST /v1/generate HTTP/1.1\r\nHost: check\r\nContent-Length: {8 * 1024 * 1024 + 1}\r\n\r\n".encode(),
                      413)
        self.rejected("head over 16 KiB -> 431, close",
                      get_request("/healthz", extra=f"X-Big: {'a' * 17000}\r\n"), 431)

    def test_idle_timeout(self):
        conn = Connection(self.address, timeout=40.0)
        conn.send(b"GET /healthz HTTP/1.1\r\n")  # and then nothing
        start = time.monotonic()
        closed = conn.at_eof()
        waited = time.monotonic() - start
        self.check(f"idle client dropped (after {waited:.1f} s)", closed and 25 < waited < 40)
        conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", help="HOST:PORT of the frontend")
    parser.add_argument("--slow", action="store_true", help="also check the 30 s idle timeout")
    args = parser.parse_args()
    host, _, port = args.address.rpartition(":")
    checker = Checker((host or "127.0.0.1", int(port)))
    tests = [checker.test_hi_you, checker.test_keep_alive_edge_cases, checker.test_big_prompt,
             checker.test_split_request, checker.test_pipelining, checker.test_routes,
             checker.test_connection_close, checker.test_bad_requests]
    if args.slow:
        tests.append(checker.test_idle_timeout)
    for test in tests:
        checker.run(test.__name__, test)
    print(f"{checker.failures} failure(s)" if checker.failures else "all checks passed")
    return 1 if checker.failures else 0


if __name__ == "__main__":
    sys.exit(main())
