#!/usr/bin/python3
# vt_server.py: a VirusTotal v3 stand-in for tests/integration/vt.sh, over
# HTTPS with the certificate the test made. It answers GET
# /api/v3/files/SHA256 from a plan (a JSON file: sha256 -> behaviour) and
# accepts POST /api/v3/files (multipart, field "file"), and appends one
# JSON line per request to --log: time (monotonic seconds), method, sha256,
# status, and for uploads the size and sha256 of the uploaded file.
# Behaviours: bad (5 engines say malicious), good (0), unknown (404),
# r429 / r500 (the first answer 429 / 500, then good), malformed (always
# a body that is not a report), slow (good after SLOW seconds). A wrong
# x-apikey gets 401; a hash not in the plan is unknown.
import argparse, hashlib, http.server, json, os, ssl, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--cert", required=True)
ap.add_argument("--key", required=True)
ap.add_argument("--plan", required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--apikey-file", required=True)  # never the key itself in argv
ap.add_argument("--port-file", required=True)
ap.add_argument("--slow", type=float, default=3.0)
args = ap.parse_args()
args.apikey = open(args.apikey_file).read()

lock = threading.Lock()
seen = {}


def report(malicious):
    return {"data": {"type": "file", "id": "x", "attributes": {
        "last_analysis_date": 1733400000,
        "last_analysis_stats": {"malicious": malicious, "suspicious": 1 if malicious else 0,
                                "harmless": 60, "undetected": 10, "timeout": 0}}}}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def record(self, **kw):
        kw["time"] = self.arrived  # when the request came, not when it was answered
        kw["method"] = self.command
        with lock, open(args.log, "a") as f:
            f.write(json.dumps(kw) + "\n")

    def answer(self, status, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.arrived = time.monotonic()
        prefix = "/api/v3/files/"
        sha = self.path[len(prefix):] if self.path.startswith(prefix) else ""
        if self.headers.get("x-apikey") != args.apikey:
            self.record(sha256=sha, status=401)
            return self.answer(401, {"error": {"code": "WrongCredentialsError"}})
        try:
            plan = json.load(open(args.plan))
        except ValueError:
            plan = {}
        how = plan.get(sha, "unknown")
        with lock:
            n = seen.get(sha, 0)
            seen[sha] = n + 1
        if how == "slow":
            time.sleep(args.slow)
            how = "good"
        if how in ("r429", "r500"):
            if n == 0:
                status = 429 if how == "r429" else 500
                self.record(sha256=sha, status=status)
                return self.answer(status, {"error": {"code": "Error"}})
            how = "good"
        if how == "bad":
            status, body = 200, report(5)
        elif how == "good":
            status, body = 200, report(0)
        elif how == "malformed":
            status, body = 200, b'{"data": {"attributes": {"last_analysis_stats": [1, 2'
        else:
            status, body = 404, {"error": {"code": "NotFoundError"}}
        self.record(sha256=sha, status=status)
        self.answer(status, body)

    def do_POST(self):
        self.arrived = time.monotonic()
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        if self.headers.get("x-apikey") != args.apikey:
            self.record(status=401)
            return self.answer(401, {"error": {"code": "WrongCredentialsError"}})
        # The file part's content, between its headers and the closing boundary.
        ctype = self.headers.get("Content-Type", "")
        boundary = ctype.split("boundary=")[-1].encode()
        content = b""
        for part in body.split(b"--" + boundary):
            if b'name="file"' in part:
                content = part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
        self.record(path=self.path, status=200, size=len(content),
                    sha256=hashlib.sha256(content).hexdigest())
        self.answer(200, {"data": {"type": "analysis", "id": "upload-1"}})


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(args.cert, args.key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
