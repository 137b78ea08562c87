"""A local stand-in for Zendesk's incremental ticket export, as its API documents it.

    zendesk_server.py --email E --token T     prints its port, then serves until killed

GET /api/v2/incremental/tickets/cursor.json?start_time=S | ?cursor=C  pages of PAGE_SIZE ticket
versions in change order; after_cursor / after_url / end_of_stream as Zendesk sends them.
Basic auth must be `E/token:T` (else 401). The second page request ever answers 429 with
Retry-After: 1 once, and the fourth answers 503 once. POST /__test/tickets appends ticket versions (a JSON array) to the change log;
an id seen before is an update and reappears in a later page. GET /__test/requests lists the
export requests served (query strings), so a test can see what a sync asked for.
POST /__test/replies queues canned replies (a JSON array of {"status", "headers": [[name, value]],
"body": text}): the next export requests get them, in order, before any page; a test makes the
server misbehave with them (a page that is not JSON, a Retry-After that is not a number).
"""
import argparse
import base64
import http.server
import json
import threading
import urllib.parse

parser = argparse.ArgumentParser()
parser.add_argument("--email", required=True)
parser.add_argument("--token", required=True)
parser.add_argument("--page-size", type=int, default=4)
args = parser.parse_args()
expected_auth = "Basic " + base64.b64encode(f"{args.email}/token:{args.token}".encode()).decode()
lock = threading.Lock()
changes = []  # ticket versions in the order they changed
requests = []
state = {"export_requests": 0, "throttled": False}
canned = []  # replies queued by POST /__test/replies


def unix(ticket):
    from datetime import datetime
    return int(datetime.fromisoformat(ticket["updated_at"].replace("Z", "+00:00")).timestamp())


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def send_json(self, status, payload, headers=()):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"[]")
        path = urllib.parse.urlsplit(self.path).path
        with lock:
            if path == "/__test/replies":
                canned.extend(body)
                self.send_json(200, {"queued": len(canned)})
                return
            changes.extend(body)
        self.send_json(200, {"changes": len(changes)})

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/__test/requests":
            with lock:
                self.send_json(200, list(requests))
            return
        if url.path != "/api/v2/incremental/tickets/cursor.json":
            self.send_json(404, {"error": "InvalidEndpoint"})
            return
        if self.headers.get("Authorization") != expected_auth:
            self.send_json(401, {"error": "Couldn't authenticate you"})
            return
        with lock:
            reply = canned.pop(0) if canned else None
        if reply is not None:
            body = reply.get("body", "").encode()
            self.send_response(reply["status"])
            for name, value in reply.get("headers", []):
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        with lock:
            state["export_requests"] += 1
            if state["export_requests"] == 2 and not state["throttled"]:
                state["throttled"] = True
                self.send_json(429, {"error": "APIRateLimitExceeded"}, [("Retry-After", "1")])
                return
            if state["export_requests"] == 4:
                self.send_json(503, {"error": "ServiceUnavailable"})
                return
            requests.append(url.query)
            if "cursor" in query:
                start = int(base64.b64decode(query["cursor"]).decode())
            else:
                since = int(query.get("start_time", "0"))
                start = next((i for i, t in enumerate(changes) if unix(t) >= since), len(changes))
            page = changes[start:start + args.page_size]
            end = start + len(page)
            cursor = base64.b64encode(str(end).encode()).decode()
            self.send_json(200, {
                "tickets": page,
                "after_cursor": cursor,
                "after_url": f"http://127.0.0.1:{self.server.server_address[1]}{url.path}?cursor={cursor}",
                "before_cursor": None,
                "end_of_stream": end >= len(changes),
            })


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
