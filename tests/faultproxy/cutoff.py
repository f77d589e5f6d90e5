#!/usr/bin/env python3
"""Cut-off proxy for sagevpc tests (test-only, stdlib only).

Forwards every call to the upstream until the answer to the --after-count-th successful
call of --after-action (e.g. CreateVpcEndpoint) has been delivered to the caller; from then on
every request is refused by closing the connection, as if AWS had become unreachable
right after that call succeeded. Unlike faultproxy.py --kill-after, the cut point is a
named action, so the caller deterministically holds the id it just created.

Prints "LISTENING <port>" on stdout once it accepts connections. GET /__proxy/stats
answers {"forwarded": {Action: n}, "refused": n, "cut": bool}.
"""

import argparse
import http.client
import http.server
import json
import socketserver
import sys
import threading
import urllib.parse


def action_of(body: bytes, path: str) -> str:
    try:
        params = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if "Action" in params:
            return params["Action"][0]
    except Exception:  # noqa: BLE001
        pass
    return urllib.parse.parse_qs(urllib.parse.urlparse(path).query).get("Action", [""])[0]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", default="http://127.0.0.1:4566")
    p.add_argument("--after-action", required=True)
    p.add_argument("--after-count", type=int, default=1)
    p.add_argument("--max-seconds", type=float, default=900)
    args = p.parse_args()
    up = urllib.parse.urlparse(args.upstream)
    lock = threading.Lock()
    state = {"forwarded": {}, "refused": 0, "cut": False, "answered": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def _drop(self):
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass

        def do_GET(self):
            if self.path.startswith("/__proxy/stats"):
                with lock:
                    body = json.dumps(state).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self._forward(b"")

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            self._forward(self.rfile.read(n) if n else b"")

        def _forward(self, body: bytes):
            action = action_of(body, self.path)
            with lock:
                if state["cut"]:
                    state["refused"] += 1
                    refuse = True
                else:
                    refuse = False
                    if action:
                        state["forwarded"][action] = state["forwarded"].get(action, 0) + 1
            if refuse:
                self._drop()
                return
            conn = http.client.HTTPConnection(up.hostname, up.port or 80, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            headers["Host"] = f"{up.hostname}:{up.port or 80}"
            try:
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except OSError:
                self._drop()
                return
            finally:
                conn.close()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() in ("transfer-encoding", "connection", "content-length"):
                    continue
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            if action == args.after_action and resp.status == 200:
                with lock:
                    state["answered"] += 1
                    if state["answered"] >= args.after_count:
                        state["cut"] = True

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = Server(("127.0.0.1", 0), Handler)
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
