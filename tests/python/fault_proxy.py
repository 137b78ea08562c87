"""A loopback HTTP proxy in front of an S3-compatible server that fails a share of requests.

    fault_proxy.py UPSTREAM_URL [--rate 0.2] [--seed 1] [--faults slowdown,internal,drop,cut,slow,lost_reply]

Prints the port it listens on, then serves until killed. GET /__proxy/stats returns what it saw
as JSON (requests by method, faults by kind, GETs by path) so tests can count requests.

Faults, each chosen at random for `rate` of the requests:
  slowdown    503 SlowDown, as S3 throttles             (the server never sees the request)
  internal    500 InternalError                         (the server never sees the request)
  drop        the connection closes with no response    (the server never sees the request)
  cut         a GET's response stops halfway through its body
  slow        the response comes 0.5-2 s late
  lost_reply  the server does the request, the client gets a 500 (the nastiest case for writes)
"""

import argparse
import collections
import http.client
import http.server
import json
import random
import socket
import sys
import threading
import time
import urllib.parse

parser = argparse.ArgumentParser()
parser.add_argument("upstream")
parser.add_argument("--rate", type=float, default=0.0)
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--faults", default="slowdown,internal,drop,cut,slow,lost_reply")
args = parser.parse_args()
upstream = urllib.parse.urlsplit(args.upstream)
faults = [kind for kind in args.faults.split(",") if kind]
rng = random.Random(args.seed)
lock = threading.Lock()
stats = {"requests": collections.Counter(), "faults": collections.Counter(), "gets": collections.Counter()}

ERROR_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
    "<Message>injected by fault_proxy</Message><RequestId>fault</RequestId></Error>"
)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/__proxy/stats":
            with lock:
                payload = json.dumps({name: dict(counter) for name, counter in stats.items()}).encode()
            self.reply(200, payload, {"Content-Type": "application/json"})
            return
        with lock:
            stats["requests"][self.command] += 1
            if self.command == "GET":
                stats["gets"][urllib.parse.urlsplit(self.path).path] += 1
            fault = rng.choice(faults) if faults and rng.random() < args.rate else None
            if fault == "cut" and self.command != "GET":
                fault = None
            if fault:
                stats["faults"][fault] += 1
        if fault == "slowdown":
            self.reply(503, ERROR_BODY.format(code="SlowDown").encode(), {"Content-Type": "application/xml"})
            return
        if fault == "internal":
            self.reply(500, ERROR_BODY.format(code="InternalError").encode(), {"Content-Type": "application/xml"})
            return
        if fault == "drop":
            self.close_now()
            return
        if fault == "slow":
            time.sleep(0.5 + 1.5 * rng.random())
        status, headers, payload = self.forward(body)
        if fault == "lost_reply":
            self.reply(500, ERROR_BODY.format(code="InternalError").encode(), {"Content-Type": "application/xml"})
            return
        if fault == "cut" and len(payload) > 1:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_now()
            return
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def forward(self, body):
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        headers = {name: value for name, value in self.headers.items() if name.lower() != "connection"}
        connection.request(self.command, self.path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        dropped = ("connection", "transfer-encoding", "keep-alive")
        if self.command != "HEAD":  # a HEAD's Content-Length is the object's, keep it
            dropped += ("content-length",)
        kept = [(name, value) for name, value in response.getheaders() if name.lower() not in dropped]
        if self.command != "HEAD":
            kept.append(("Content-Length", str(len(payload))))
        connection.close()
        return response.status, kept, payload

    def reply(self, status, payload, headers):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def close_now(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gives up on a slow or cut response closes its end: expected here.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
