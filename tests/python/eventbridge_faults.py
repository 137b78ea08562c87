"""A loopback stand-in for EventBridge's PutEvents (awsJson1.1) that answers entries with the
failures EventBridge documents, by a schedule the replay tests choose from each event's
`detail.replay-original-id`, and remembers every attempt.

    eventbridge_faults.py     prints the port it listens on, then serves until killed

Roles go to the first original ids seen that end in a digit (few, so backoffs stay short):
  "flaky"    3 ids ending in "1": InternalFailure on their first two attempts, then accepted;
  "refused"  3 ids ending in "2": MalformedDetail (final) the first time, accepted on a later run;
  "dead"     1 id ending in "3": InternalFailure on every attempt;
and the first two requests answer ThrottlingException for every entry. Anything else is
accepted. GET /__stats returns {"requests": n, "attempts": {id: n}, "accepted": {id: n},
"roles": {role: [id, …]}}.
"""
import collections
import http.server
import json
import sys
import threading
import uuid

lock = threading.Lock()
requests = 0
attempts = collections.Counter()
accepted = collections.Counter()
throttled_attempts = collections.Counter()
refused_once = set()
roles = {"flaky": [], "refused": [], "dead": []}
ROLE_OF_DIGIT = {"1": ("flaky", 3), "2": ("refused", 3), "3": ("dead", 1)}


def role(original_id):
    """The id's role, given to the first ids seen that end in the role's digit."""
    for name, ids in roles.items():
        if original_id in ids:
            return name
    wanted = ROLE_OF_DIGIT.get(original_id[-1:])
    if wanted and len(roles[wanted[0]]) < wanted[1]:
        roles[wanted[0]].append(original_id)
        return wanted[0]
    return None


def answer(original_id):
    """The result entry for one attempt of the entry with this original id."""
    if requests <= 2:
        return {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}
    kind = role(original_id)
    if kind == "flaky" and attempts[original_id] <= 2 + throttled_attempts[original_id]:
        return {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}
    if kind == "refused" and original_id not in refused_once:
        refused_once.add(original_id)
        return {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    if kind == "dead":
        return {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}
    accepted[original_id] += 1
    return {"EventId": str(uuid.uuid4())}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def do_GET(self):
        with lock:
            body = json.dumps({"requests": requests, "attempts": attempts, "accepted": accepted,
                               "roles": roles}).encode()
        self.reply(200, body, "application/json")

    def do_POST(self):
        global requests
        length = int(self.headers.get("Content-Length", 0))
        request = json.loads(self.rfile.read(length) or b"{}")
        if self.headers.get("X-Amz-Target") != "AWSEvents.PutEvents":
            self.reply(400, json.dumps({"__type": "UnknownOperationException"}).encode(),
                       "application/x-amz-json-1.1")
            return
        with lock:
            requests += 1
            entries = []
            for entry in request.get("Entries", []):
                original_id = json.loads(entry["Detail"]).get("replay-original-id", "")
                attempts[original_id] += 1
                result = answer(original_id)
                if result.get("ErrorCode") == "ThrottlingException":
                    throttled_attempts[original_id] += 1
                entries.append(result)
        failed = sum(1 for entry in entries if "ErrorCode" in entry)
        body = json.dumps({"FailedEntryCount": failed, "Entries": entries}).encode()
        self.reply(200, body, "application/x-amz-json-1.1")

    def reply(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    sys.exit(0)
