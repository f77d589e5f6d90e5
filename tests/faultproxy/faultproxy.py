#!/usr/bin/env python3
"""Fault-injecting HTTP proxy for sagevpc tests and benchmarks (test-only, stdlib only).

Sits between the sagevpc binary and LocalStack (point sagevpc's --endpoint-url at it).
Every request is forwarded to the upstream unless a fault is injected:

  --latency-ms N        add N ms before forwarding each call (benchmarks: 50)
  --throttle-rate P     answer P of calls with HTTP 400 RequestLimitExceeded
  --error-rate P        answer P of calls with HTTP 500 InternalError
  --drop-rate P         close the connection without answering for P of calls
  --kill-after K        forward the first K mutating calls; the K-th one's response is
                        dropped (the caller never learns it succeeded) and every later
                        call is refused, as if the process had been killed mid-call
  --seed S              fixed seed for the random faults

Faults are only injected on EC2 query calls (Action=...). Counts are served at
GET /__proxy/stats as JSON: {"calls": {Action: n}, "mutating": n, "faults": {...}}.
The proxy prints "LISTENING <port>" on stdout once it accepts connections.
"""

import argparse
import http.client
import http.server
import json
import random
import socketserver
import sys
import threading
import time
import urllib.parse

READ_ONLY_PREFIXES = ("Describe", "List", "Get")


class State:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.lock = threading.Lock()
        self.calls = {}
        self.mutating = 0
        self.faults = {"throttle": 0, "error": 0, "drop": 0, "killed": 0}
        self.dead = False


def action_of(body: bytes, path: str) -> str:
    try:
        params = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if "Action" in params:
            return params["Action"][0]
    except Exception:  # noqa: BLE001 - any undecodable body is "not a query call"
        pass
    q = urllib.parse.urlparse(path).query
    params = urllib.parse.parse_qs(q)
    return params.get("Action", [""])[0]


def make_handler(state: State):
    up = urllib.parse.urlparse(state.args.upstream)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # quiet
            pass

        def _reply(self, status, body: bytes, ctype="text/xml"):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status, code, msg):
            body = (
                '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
                f"<Code>{code}</Code><Message>{msg}</Message></Error></Errors>"
                "<RequestID>faultproxy</RequestID></Response>"
            ).encode()
            self._reply(status, body)

        def _drop(self):
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass

        def do_GET(self):
            if self.path.startswith("/__proxy/stats"):
                with state.lock:
                    doc = {"calls": state.calls, "mutating": state.mutating, "faults": state.faults}
                self._reply(200, json.dumps(doc).encode(), "application/json")
                return
            self._forward(b"")

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            self._forward(body)

        def _forward(self, body: bytes):
            a = state.args
            action = action_of(body, self.path)
            mutating = bool(action) and not action.startswith(READ_ONLY_PREFIXES)
            drop_response = False
            with state.lock:
                if state.dead:
                    state.faults["killed"] += 1
                    fault = "dead"
                else:
                    fault = None
                    if action:
                        r = state.rng.random()
                        if r < a.throttle_rate:
                            fault = "throttle"
                        elif r < a.throttle_rate + a.error_rate:
                            fault = "error"
                        elif r < a.throttle_rate + a.error_rate + a.drop_rate:
                            fault = "drop"
                    if fault:
                        state.faults[fault] += 1
                    else:
                        if action:
                            state.calls[action] = state.calls.get(action, 0) + 1
                        if mutating:
                            state.mutating += 1
                            if a.kill_after and state.mutating >= a.kill_after:
                                state.dead = True
                                drop_response = True
            if fault == "dead" or fault == "drop":
                self._drop()
                return
            if fault == "throttle":
                self._error(400, "RequestLimitExceeded", "Request limit exceeded.")
                return
            if fault == "error":
                self._error(500, "InternalError", "An internal error has occurred")
                return
            if a.latency_ms:
                time.sleep(a.latency_ms / 1000.0)
            conn = http.client.HTTPConnection(up.hostname, up.port or 80, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            headers["Host"] = f"{up.hostname}:{up.port or 80}"
            try:
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except OSError as e:
                self._error(502, "ProxyUpstreamError", str(e))
                return
            finally:
                conn.close()
            if drop_response:
                self._drop()
                return
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() in ("transfer-encoding", "connection", "content-length"):
                    continue
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", default="http://127.0.0.1:4566")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--latency-ms", type=float, default=0)
    p.add_argument("--throttle-rate", type=float, default=0)
    p.add_argument("--error-rate", type=float, default=0)
    p.add_argument("--drop-rate", type=float, default=0)
    p.add_argument("--kill-after", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-seconds", type=float, default=1800, help="exit after this long (bounded runs)")
    args = p.parse_args()
    state = State(args)
    srv = Server(("127.0.0.1", args.port), make_handler(state))
    print(f"LISTENING {srv.server_address[1]}", flush=True)
    t = threading.Timer(args.max_seconds, srv.shutdown)
    t.daemon = True
    t.start()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
