#!/usr/bin/env python3
"""EC2 request-throttling proxy for sagevpc benchmarks (stdlib only, Python 3.11).

Sits between a client (sagevpc, Terraform, ...) and LocalStack and models EC2's API
request throttling: one token bucket per EC2 action per account+region (buckets start
full; a call takes one token; an empty bucket answers HTTP 503 RequestLimitExceeded in
EC2's Query-API error shape, as EC2 does). Defaults (capacity / refill per second), from
the EC2 "Request throttling" page:

  CreateVpcEndpoint, ModifyVpcEndpoint, DeleteVpcEndpoints           4 / 0.3
  CreateNatGateway, DeleteNatGateway                                10 / 1
  Authorize/RevokeSecurityGroupIngress/Egress, CreateKeyPair        50 / 5
  every other mutating action                                       50 / 5
  CreateTags, DeleteTags                                           100 / 10
  Describe*/Get*/List* (filtered or paginated)                     100 / 20
  DescribeSecurityGroups, DescribeNetworkInterfaces unfiltered
    and unpaginated (bucket "<Action>(unfiltered)")                  50 / 10

Every action has its own bucket (EC2 evaluates "each API individually");
--shared-buckets instead groups the rows above that list several actions.

Only EC2 Query calls are throttled: a POST whose SigV4 credential scope names the
service `ec2`, or (unsigned) whose form body says Version=2016-11-15. Everything else
(IAM, STS, S3, SageMaker's JSON protocol, /_localstack/...) is forwarded untouched and
counted as "passthrough" by service:action.

Options (each also as an environment variable THROTTLEPROXY_<NAME>):
  --upstream URL             LocalStack (default http://127.0.0.1:4566)
  --port N                   listen port on 127.0.0.1 (0 = any; printed as LISTENING <port>)
  --rate KEY=CAP/REFILL      override a bucket (repeatable; env: comma-separated). KEY is an
                             action, a bucket key such as DescribeSecurityGroups(unfiltered),
                             or a category: endpoint, nat, sg-rule, mutating, tags, describe,
                             describe-unfiltered
  --scale F                  multiply every capacity and refill rate by F
  --no-throttle              count only (never answer 503)
  --latency-ms N             sleep N ms before answering each EC2 call (throttled ones too)
  --endpoint-pending-s S     for S s after an endpoint was created through the proxy, report
                             its state `pending` instead of `available` in CreateVpcEndpoint
                             and DescribeVpcEndpoints answers (AWS takes minutes)
  --max-seconds S            exit after S s (bounded runs)
  --self-test                run the built-in unit tests and exit

Control endpoints (also under /__proxy/ like tests/faultproxy/faultproxy.py):
  GET  /_proxy/stats   JSON: EC2 calls (admitted) by action and by bucket, throttled answers
                       by action, upstream error codes, pass-through counts, bucket config
                       and current tokens, the bucket bound of the counted calls, the
                       time of the admitted calls by action (`call_ms`, `mutating_call_ms`:
                       request received to answer sent, injected latency included) and,
                       for each throttled call, how early it came (`throttled_early_ms`:
                       ms until its bucket's next token)
  POST /_proxy/reset   zero the counters and refill every bucket (?pending=1 also forgets
                       the endpoints being reported pending)
  POST /_proxy/throttle?on=0|1   switch throttling off/on at run time (cleanup runs)

The stats also show the SDK attempt number of each EC2 call (the `amz-sdk-request:
attempt=N; max=M` header both aws-sdk-go-v2 and aws-sdk-rust send): `attempts` by action,
`client_max_attempts`, and `gave_up` = calls throttled on the client's last attempt.

bucket_bound(calls_by_action, config) gives the lower bound on wall time the buckets
impose on a set of calls: max over buckets of max(0, (calls - capacity) / refill).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import http.server
import json
import os
import re
import socketserver
import sys
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

READ_ONLY_PREFIXES = ("Describe", "Get", "List")
EC2_VERSION = "2016-11-15"

# Categories: name -> (capacity, refill per second).
CATEGORIES = {
    "endpoint": (4.0, 0.3),
    "nat": (10.0, 1.0),
    "sg-rule": (50.0, 5.0),
    "mutating": (50.0, 5.0),
    "tags": (100.0, 10.0),
    "describe": (100.0, 20.0),
    "describe-unfiltered": (50.0, 10.0),
}
CATEGORY_ACTIONS = {
    "endpoint": ("CreateVpcEndpoint", "ModifyVpcEndpoint", "DeleteVpcEndpoints"),
    "nat": ("CreateNatGateway", "DeleteNatGateway"),
    "sg-rule": (
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
        "CreateKeyPair",
    ),
    "tags": ("CreateTags", "DeleteTags"),
}
ACTION_CATEGORY = {a: c for c, acts in CATEGORY_ACTIONS.items() for a in acts}
UNFILTERED_ACTIONS = ("DescribeSecurityGroups", "DescribeNetworkInterfaces")
UNFILTERED_SUFFIX = "(unfiltered)"
# Parameters that make a Describe call "filtered or paginated" (id and name lists included).
_FILTER_PARAM = re.compile(
    r"^(Filter|GroupId|GroupName|NetworkInterfaceId|SecurityGroupId)(\.\d+.*)?$|^(MaxResults|NextToken)$"
)


def is_mutating(action: str) -> bool:
    return bool(action) and not action.startswith(READ_ONLY_PREFIXES)


def bucket_key(action: str, params: dict) -> str:
    """The bucket an EC2 call draws from: its action, or `<action>(unfiltered)` for an
    unfiltered and unpaginated DescribeSecurityGroups/DescribeNetworkInterfaces."""
    if action in UNFILTERED_ACTIONS and not any(_FILTER_PARAM.match(k) for k in params):
        return action + UNFILTERED_SUFFIX
    return action


def category_of(key: str) -> str:
    if key.endswith(UNFILTERED_SUFFIX):
        return "describe-unfiltered"
    if key in ACTION_CATEGORY:
        return ACTION_CATEGORY[key]
    return "mutating" if is_mutating(key) else "describe"


class BucketConfig:
    """Capacity and refill of every bucket: category defaults, per-key overrides, a scale."""

    def __init__(self, overrides: dict | None = None, scale: float = 1.0, shared: bool = False):
        self.categories = dict(CATEGORIES)
        self.keys: dict[str, tuple[float, float]] = {}
        self.scale = scale
        self.shared = shared
        for k, v in (overrides or {}).items():
            if k in self.categories:
                self.categories[k] = v
            else:
                self.keys[k] = v

    @staticmethod
    def parse_rate(spec: str) -> tuple[str, tuple[float, float]]:
        """`KEY=CAP/REFILL` -> (KEY, (cap, refill))."""
        key, sep, val = spec.partition("=")
        cap, sep2, refill = val.partition("/")
        if not sep or not sep2 or not key.strip():
            raise ValueError(f"bad rate {spec!r}: expected ACTION=CAP/REFILL")
        c, r = float(cap), float(refill)
        if c < 1 or r <= 0:
            raise ValueError(f"bad rate {spec!r}: capacity must be >= 1 and refill > 0")
        return key.strip(), (c, r)

    def bucket_id(self, key: str) -> str:
        """The bucket a key shares (itself, unless --shared-buckets groups it)."""
        if key in self.keys or not self.shared:
            return key
        cat = category_of(key)
        return f"[{cat}]" if cat in CATEGORY_ACTIONS else key

    def limits(self, key: str) -> tuple[float, float]:
        if key.startswith("[") and key.endswith("]"):
            cap, refill = self.categories[key[1:-1]]
        elif key in self.keys:
            cap, refill = self.keys[key]
        else:
            cap, refill = self.categories[category_of(key)]
        return cap * self.scale, refill * self.scale

    def describe(self) -> dict:
        return {
            "scale": self.scale,
            "shared_buckets": self.shared,
            "categories": {c: {"capacity": v[0], "refill_per_s": v[1]} for c, v in self.categories.items()},
            "category_actions": {c: list(a) for c, a in CATEGORY_ACTIONS.items()},
            "overrides": {k: {"capacity": v[0], "refill_per_s": v[1]} for k, v in self.keys.items()},
        }


def _as_config(config) -> BucketConfig:
    if isinstance(config, BucketConfig):
        return config
    return BucketConfig({k: tuple(v) for k, v in (config or {}).items()})


def bucket_bound(calls_by_action: dict, config=None) -> dict:
    """Lower bound on wall time the buckets impose on these calls (buckets start full).

    calls_by_action: {action or bucket key: admitted calls}; config: a BucketConfig or a
    {key: (cap, refill)} dict of overrides (None = the defaults). Calls sharing a bucket
    (--shared-buckets) are summed. Returns {"bound_s", "action", "per_bucket": {bucket:
    {"calls", "capacity", "refill_per_s", "bound_s"}}}; `action` is the bucket with the
    largest bound (None when no bucket is over its capacity).
    """
    cfg = _as_config(config)
    sums: dict[str, int] = {}
    for key, n in calls_by_action.items():
        b = cfg.bucket_id(key)
        sums[b] = sums.get(b, 0) + int(n)
    per, best, best_key = {}, 0.0, None
    for b, n in sorted(sums.items()):
        cap, refill = cfg.limits(b)
        t = max(0.0, (n - cap) / refill)
        per[b] = {"calls": n, "capacity": cap, "refill_per_s": refill, "bound_s": round(t, 3)}
        if t > best:
            best, best_key = t, b
    return {"bound_s": round(best, 3), "action": best_key, "per_bucket": per}


class TokenBucket:
    def __init__(self, capacity: float, refill: float, now: float):
        self.capacity, self.refill = capacity, refill
        self.tokens, self.last = capacity, now

    def _update(self, now: float):
        if now > self.last:
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.refill)
            self.last = now

    def take(self, now: float) -> bool:
        self._update(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def level(self, now: float) -> float:
        self._update(now)
        return self.tokens


def throttle_body(request_id: str | None = None) -> bytes:
    """EC2's Query-API error document for an empty bucket (sent with HTTP 503)."""
    rid = request_id or str(uuid.uuid4())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
        "<Message>Request limit exceeded.</Message></Error></Errors>"
        f"<RequestID>{rid}</RequestID></Response>"
    ).encode()


# ----------------------------------------------------------------------------------------
# Request classification


_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")


def sigv4_scope(headers) -> tuple[str, str]:
    """(region, service) of a SigV4 Authorization header (or X-Amz-Credential query)."""
    m = _SCOPE.search(headers.get("Authorization") or "")
    if m:
        return m.group(1), m.group(2)
    return "", ""


_ATTEMPT = re.compile(r"attempt=(\d+)(?:;\s*max=(\d+))?")


def sdk_attempt(headers) -> tuple[int, int]:
    """(attempt, max) from the `amz-sdk-request: attempt=N; max=M` header AWS SDKs send
    (aws-sdk-go-v2 for Terraform, aws-sdk-rust for sagevpc); (0, 0) without it."""
    m = _ATTEMPT.search(headers.get("amz-sdk-request") or "")
    if not m:
        return 0, 0
    return int(m.group(1)), int(m.group(2) or 0)


def classify(method: str, path: str, headers, body: bytes) -> dict:
    """What a request is: {"kind": "control"|"internal"|"ec2"|"other", "service", "action",
    "params" (EC2 only)}."""
    p = urllib.parse.urlsplit(path).path
    if p.startswith(("/_proxy/", "/__proxy/")):
        return {"kind": "control", "service": "", "action": p}
    if p.startswith("/_localstack") or p.startswith("/_aws/"):
        return {"kind": "internal", "service": "localstack", "action": p}
    _, service = sigv4_scope(headers)
    params: dict = {}
    ctype = (headers.get("Content-Type") or "").lower()
    if method == "POST" and body and (ctype.startswith("application/x-www-form-urlencoded") or not ctype):
        try:
            params = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
        except (UnicodeDecodeError, ValueError):
            params = {}
    if not params:
        q = urllib.parse.urlsplit(path).query
        if "Action=" in q:
            params = {k: v[0] for k, v in urllib.parse.parse_qs(q, keep_blank_values=True).items()}
    action = params.get("Action", "")
    if action and (service == "ec2" or (not service and params.get("Version") == EC2_VERSION)):
        return {"kind": "ec2", "service": "ec2", "action": action, "params": params}
    if not action:
        target = headers.get("X-Amz-Target") or ""
        action = target.rsplit(".", 1)[-1] if target else f"{method} {p.split('/', 2)[1] if p.count('/') > 1 else p}"
    return {"kind": "other", "service": service or "unsigned", "action": action}


# ----------------------------------------------------------------------------------------
# Pending rewrite of VPC endpoint states (structural, per endpoint element)

_TAG = re.compile(r"<(/?)([A-Za-z_][\w.:-]*)((?:\s+[^<>]*?)?)(/?)>")


def _local(name: str) -> str:
    return name.rsplit(":", 1)[-1]


def endpoint_states(xml: bytes) -> list[dict]:
    """Every VPC endpoint element of a CreateVpcEndpoint/DescribeVpcEndpoints answer:
    [{"id", "state", "span": (start, end) of the state's text}], where an endpoint element
    is the root's `vpcEndpoint` child or an `item` of the root's `vpcEndpointSet`, and id
    and state are that element's own direct children."""
    text = xml.decode("utf-8")
    found, stack, cur = [], [], None  # stack of local names; cur = endpoint being read
    for m in _TAG.finditer(text):
        if text.startswith("<?", m.start()) or text.startswith("<!", m.start()):
            continue
        closing, name, selfclose = m.group(1) == "/", _local(m.group(2)), m.group(4) == "/"
        if closing:
            if not stack:
                raise ValueError("unbalanced XML")
            if cur is not None and len(stack) == cur["depth"] + 2 and name in ("vpcEndpointId", "state"):
                value = text[cur["open_end"] : m.start()]
                if name == "vpcEndpointId":
                    cur["id"] = value.strip()
                else:
                    cur["state"], cur["span"] = value.strip(), (cur["open_end"], m.start())
            if stack.pop() != name:
                raise ValueError(f"mismatched </{name}>")
            if cur is not None and len(stack) == cur["depth"]:
                if cur.get("id"):
                    found.append({"id": cur["id"], "state": cur.get("state"), "span": cur.get("span")})
                cur = None
            continue
        if selfclose:
            continue
        depth = len(stack)
        is_ep = (depth == 1 and name == "vpcEndpoint") or (
            depth == 2 and name == "item" and stack[1] == "vpcEndpointSet"
        )
        stack.append(name)
        if cur is None and is_ep:
            cur = {"depth": depth}
        elif cur is not None and len(stack) == cur["depth"] + 2 and name in ("vpcEndpointId", "state"):
            cur["open_end"] = m.end()
    if stack:
        raise ValueError("unterminated XML")
    return found


def rewrite_pending(xml: bytes, pending_ids) -> tuple[bytes, int]:
    """Report `pending` for every endpoint in `pending_ids` whose state is `available`.
    Returns (new body, number rewritten); the body is unchanged when it is not well-formed."""
    try:
        ET.fromstring(xml)
        eps = endpoint_states(xml)
    except (ET.ParseError, ValueError, UnicodeDecodeError):
        return xml, 0
    text = xml.decode("utf-8")
    edits = [e["span"] for e in eps if e["id"] in pending_ids and e["state"] == "available" and e["span"]]
    for start, end in sorted(edits, reverse=True):
        text = text[:start] + "pending" + text[end:]
    return text.encode("utf-8"), len(edits)


# ----------------------------------------------------------------------------------------
# Proxy


def _dist_ms(xs) -> dict:
    """count, median, 90th percentile and max of durations in s, as ms."""
    if not xs:
        return {"n": 0}
    xs = sorted(xs)
    return {"n": len(xs), "median": round(xs[len(xs) // 2] * 1000, 1),
            "p90": round(xs[min(len(xs) - 1, int(len(xs) * 0.9))] * 1000, 1), "max": round(xs[-1] * 1000, 1)}


class State:
    def __init__(self, args, config: BucketConfig):
        self.args = args
        self.config = config
        self.lock = threading.Lock()
        self.buckets: dict[str, TokenBucket] = {}
        self.pending: dict[str, float] = {}  # endpoint id -> monotonic time it was created
        self.no_throttle = bool(args.no_throttle)  # POST /_proxy/throttle?on=0|1 changes it
        self.reset(forget_pending=True)

    def reset(self, forget_pending=False):
        with self.lock:
            self.since = time.time()
            self.t0 = time.monotonic()
            self.calls: dict[str, int] = {}  # admitted EC2 calls by action
            self.calls_by_bucket: dict[str, int] = {}
            self.throttled: dict[str, int] = {}
            self.errors: dict[str, dict[str, int]] = {}  # upstream EC2 errors by action, code
            self.passthrough: dict[str, int] = {}
            self.attempts: dict[str, dict[str, int]] = {}  # action -> {attempt n: calls}
            self.max_attempts: dict[str, int] = {}  # action -> the client's max (amz-sdk-request)
            self.gave_up: dict[str, int] = {}  # throttled on the client's last attempt
            self.rewritten = 0
            self.durations: dict[str, list] = {}  # admitted EC2 calls: seconds from request to answer
            self.early_ms: dict[str, list] = {}  # throttled calls: ms until the next token
            self.buckets = {}  # recreated full on first use
            if forget_pending:
                self.pending = {}

    def admit(self, key: str) -> bool:
        now = time.monotonic()
        b_id = self.config.bucket_id(key)
        with self.lock:
            b = self.buckets.get(b_id)
            if b is None:
                b = self.buckets[b_id] = TokenBucket(*self.config.limits(b_id), now)
            if self.no_throttle or b.take(now):
                return True
            # How early the call came: the time until the bucket's next token.
            self.early_ms.setdefault(key, []).append(round((1.0 - b.level(now)) / b.refill * 1000, 1))
            return False

    def record_time(self, action: str, seconds: float):
        with self.lock:
            self.durations.setdefault(action, []).append(seconds)

    def pending_ids(self) -> set:
        s = self.args.endpoint_pending_s
        if not s:
            return set()
        now = time.monotonic()
        with self.lock:
            return {i for i, t in self.pending.items() if now - t < s}

    def snapshot(self) -> dict:
        now = time.monotonic()
        with self.lock:
            calls = dict(self.calls)
            mutating = sum(n for a, n in calls.items() if is_mutating(a))
            doc = {
                "since": self.since,
                "elapsed_s": round(now - self.t0, 3),
                "ec2": {
                    "calls": calls,
                    "calls_by_bucket": dict(self.calls_by_bucket),
                    "total": sum(calls.values()),
                    "mutating": mutating,
                    "throttled": dict(self.throttled),
                    "throttled_total": sum(self.throttled.values()),
                    "upstream_errors": {a: dict(c) for a, c in self.errors.items()},
                    "attempts": {a: dict(sorted(c.items(), key=lambda kv: int(kv[0]))) for a, c in self.attempts.items()},
                    "client_max_attempts": dict(self.max_attempts),
                    "gave_up": dict(self.gave_up),
                    "call_ms": {a: _dist_ms(d) for a, d in sorted(self.durations.items())},
                    "mutating_call_ms": _dist_ms([x for a, d in self.durations.items() if is_mutating(a) for x in d]),
                    "throttled_early_ms": {a: sorted(v) for a, v in self.early_ms.items()},
                },
                "passthrough": dict(self.passthrough),
                "passthrough_total": sum(self.passthrough.values()),
                "pending_rewrites": self.rewritten,
                "pending_endpoints": len(self.pending),
                "buckets": {
                    k: {"capacity": b.capacity, "refill_per_s": b.refill, "tokens": round(b.level(now), 3)}
                    for k, b in sorted(self.buckets.items())
                },
                "config": self.config.describe(),
                "throttling": not self.no_throttle,
                "latency_ms": self.args.latency_ms,
                "endpoint_pending_s": self.args.endpoint_pending_s,
            }
        doc["bucket_bound"] = bucket_bound(doc["ec2"]["calls_by_bucket"], self.config)
        return doc


_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "expect"}


def make_handler(state: State):
    up = urllib.parse.urlsplit(state.args.upstream)
    host, port = up.hostname, up.port or 80

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The headers and the body of an answer are two writes: with Nagle's algorithm the
        # body waits for the client's (delayed) ACK of the headers, tens of ms per call
        # that the client sees and AWS does not add.
        disable_nagle_algorithm = True

        def log_message(self, fmt, *a):  # quiet
            pass

        def _reply(self, status, body: bytes, ctype="text/xml;charset=UTF-8", extra=()):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            for k, v in extra:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _body(self) -> bytes:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                out = bytearray()
                while True:
                    line = self.rfile.readline()
                    size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return bytes(out)
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _any(self):
            t_start = time.monotonic()
            body = self._body()
            c = classify(self.command, self.path, self.headers, body)
            if c["kind"] == "control":
                return self._control(c["action"])
            if c["kind"] != "ec2":
                with state.lock:
                    k = f"{c['service']}:{c['action']}"
                    state.passthrough[k] = state.passthrough.get(k, 0) + 1
                return self._forward(body, None)
            action, key = c["action"], bucket_key(c["action"], c["params"])
            attempt, max_attempts = sdk_attempt(self.headers)
            ok = state.admit(key)
            with state.lock:
                if attempt:
                    per = state.attempts.setdefault(action, {})
                    per[str(attempt)] = per.get(str(attempt), 0) + 1
                if max_attempts:
                    state.max_attempts[action] = max(state.max_attempts.get(action, 0), max_attempts)
                if not ok and attempt and max_attempts and attempt >= max_attempts:
                    state.gave_up[action] = state.gave_up.get(action, 0) + 1
            if state.args.latency_ms:
                time.sleep(state.args.latency_ms / 1000.0)
            if not ok:
                with state.lock:
                    state.throttled[action] = state.throttled.get(action, 0) + 1
                return self._reply(503, throttle_body())
            with state.lock:
                state.calls[action] = state.calls.get(action, 0) + 1
                state.calls_by_bucket[key] = state.calls_by_bucket.get(key, 0) + 1
            self._forward(body, action)
            state.record_time(action, time.monotonic() - t_start)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _any

        def _control(self, path):
            name = path.rstrip("/").rsplit("/", 1)[-1]
            if name == "stats":
                return self._reply(200, json.dumps(state.snapshot(), indent=1).encode(), "application/json")
            if name == "throttle" and self.command == "POST":
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                state.no_throttle = q.get("on", ["1"])[0] == "0"
                return self._reply(200, json.dumps({"throttling": not state.no_throttle}).encode(), "application/json")
            if name == "reset" and self.command == "POST":
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                state.reset(forget_pending=q.get("pending", ["0"])[0] == "1")
                return self._reply(200, b'{"reset": true}', "application/json")
            return self._reply(404, b'{"error": "unknown control path"}', "application/json")

        def _forward(self, body: bytes, action: str | None):
            # Header names compared case-insensitively (aws-sdk-rust sends them lower-case):
            # a second Content-Length or Host would make LocalStack answer 400.
            drop = _HOP | {"host", "content-length"}
            if action is not None:
                drop = drop | {"accept-encoding"}  # plain XML, so answers can be read
            headers = {k: v for k, v in self.headers.items() if k.lower() not in drop}
            headers["Host"] = self.headers.get("Host") or f"{host}:{port}"
            if body or self.command in ("POST", "PUT", "PATCH"):
                headers["Content-Length"] = str(len(body))
            conn = http.client.HTTPConnection(host, port, timeout=300)
            try:
                conn.request(self.command, self.path, body=body if body else None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except OSError as e:
                # Counted: the upstream may have acted on a call whose answer is lost here,
                # and the client will retry it (a 502 is retryable).
                with state.lock:
                    k = action or "passthrough"
                    per = state.errors.setdefault(k, {})
                    code = f"ProxyUpstreamError:{type(e).__name__}"
                    per[code] = per.get(code, 0) + 1
                print(f"{time.strftime('%H:%M:%S')} upstream error on {k}: {e!r}", file=sys.stderr, flush=True)
                return self._reply(502, f"<Response><Errors><Error><Code>ProxyUpstreamError</Code><Message>{e}</Message></Error></Errors></Response>".encode())
            finally:
                conn.close()
            rheaders = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP and k.lower() != "content-length"]
            if action is not None:
                data = self._inspect(action, resp.status, rheaders, data)
            self.send_response(resp.status)
            for k, v in rheaders:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _inspect(self, action, status, rheaders, data: bytes) -> bytes:
            enc = next((v for k, v in rheaders if k.lower() == "content-encoding"), "")
            plain = data
            if "gzip" in enc.lower():
                try:
                    plain = gzip.decompress(data)
                except OSError:
                    return data
            if status >= 400:
                m = re.search(rb"<Code>([^<]+)</Code>", plain)
                code = m.group(1).decode("utf-8", "replace") if m else f"HTTP{status}"
                with state.lock:
                    per = state.errors.setdefault(action, {})
                    per[code] = per.get(code, 0) + 1
                return data
            if action not in ("CreateVpcEndpoint", "DescribeVpcEndpoints") or not state.args.endpoint_pending_s:
                return data
            if action == "CreateVpcEndpoint":
                try:
                    ids = [e["id"] for e in endpoint_states(plain)]
                except (ValueError, UnicodeDecodeError):
                    ids = []
                now = time.monotonic()
                with state.lock:
                    for i in ids:
                        state.pending.setdefault(i, now)
            new, n = rewrite_pending(plain, state.pending_ids())
            if not n:
                return data
            with state.lock:
                state.rewritten += n
            if "gzip" in enc.lower():
                return gzip.compress(new)
            return new

    return Handler


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


# ----------------------------------------------------------------------------------------
# Self-test (no network beyond loopback)

CANNED_DESCRIBE = b"""<?xml version='1.0' encoding='utf-8'?>
<DescribeVpcEndpointsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15"><vpcEndpointSet><item><vpcEndpointId>vpce-aaa</vpcEndpointId><vpcEndpointType>Interface</vpcEndpointType><state>available</state><dnsEntrySet><item><dnsName>x</dnsName><state>available</state></item></dnsEntrySet><tagSet><item><key>state</key><value>available</value></item></tagSet></item><item><vpcEndpointId>vpce-bbb</vpcEndpointId><state>available</state><policyDocument>{&quot;state&quot;: &quot;available&quot;}</policyDocument></item><item><vpcEndpointId>vpce-ccc</vpcEndpointId><state>deleted</state></item></vpcEndpointSet><requestId>r</requestId></DescribeVpcEndpointsResponse>"""
CANNED_CREATE = b"""<?xml version='1.0' encoding='utf-8'?>
<CreateVpcEndpointResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15"><vpcEndpoint><vpcEndpointId>vpce-ccc</vpcEndpointId><state>available</state><subnetIdSet /><tagSet /></vpcEndpoint><requestId>r</requestId></CreateVpcEndpointResponse>"""


def self_test() -> int:
    import unittest

    class T(unittest.TestCase):
        def test_bucket_arithmetic(self):
            b = TokenBucket(4, 0.3, now=0.0)
            self.assertEqual([b.take(0.0) for _ in range(5)], [True] * 4 + [False])
            self.assertFalse(b.take(3.0))  # 0.9 tokens
            self.assertTrue(b.take(3.34))  # 1.002 tokens
            self.assertFalse(b.take(3.34))
            b2 = TokenBucket(50, 5, now=0.0)
            for _ in range(50):
                b2.take(0.0)
            self.assertAlmostEqual(b2.level(100.0), 50.0)  # never above capacity

        def test_bound(self):
            r = bucket_bound({"CreateVpcEndpoint": 6, "AuthorizeSecurityGroupIngress": 2, "DescribeVpcs": 3})
            self.assertAlmostEqual(r["bound_s"], 6.667, places=3)
            self.assertEqual(r["action"], "CreateVpcEndpoint")
            r = bucket_bound({"AuthorizeSecurityGroupIngress": 299, "CreateVpcEndpoint": 21, "CreateTags": 90})
            self.assertAlmostEqual(r["per_bucket"]["AuthorizeSecurityGroupIngress"]["bound_s"], 49.8)
            self.assertAlmostEqual(r["bound_s"], 56.667, places=3)
            self.assertEqual(bucket_bound({"CreateVpc": 1})["action"], None)
            r = bucket_bound({"CreateVpcEndpoint": 6}, {"CreateVpcEndpoint": (4, 1)})
            self.assertAlmostEqual(r["bound_s"], 2.0)
            r = bucket_bound({"CreateVpcEndpoint": 6}, BucketConfig(scale=2.0))
            self.assertAlmostEqual(r["bound_s"], 0.0)
            shared = BucketConfig(shared=True)
            r = bucket_bound({"CreateVpcEndpoint": 4, "DeleteVpcEndpoints": 4}, shared)
            self.assertAlmostEqual(r["bound_s"], 13.333, places=3)
            self.assertEqual(r["action"], "[endpoint]")
            self.assertEqual(bucket_bound({"CreateVpcEndpoint": 4, "DeleteVpcEndpoints": 4})["bound_s"], 0.0)

        def test_categories(self):
            c = BucketConfig()
            self.assertEqual(c.limits("CreateVpcEndpoint"), (4, 0.3))
            self.assertEqual(c.limits("DeleteNatGateway"), (10, 1))
            self.assertEqual(c.limits("RevokeSecurityGroupEgress"), (50, 5))
            self.assertEqual(c.limits("CreateVpc"), (50, 5))
            self.assertEqual(c.limits("CreateTags"), (100, 10))
            self.assertEqual(c.limits("DescribeVpcs"), (100, 20))
            self.assertEqual(c.limits("GetManagedPrefixListEntries"), (100, 20))
            self.assertEqual(c.limits("DescribeSecurityGroups(unfiltered)"), (50, 10))
            k, v = BucketConfig.parse_rate("CreateVpcEndpoint=8/0.5")
            c2 = BucketConfig({k: v, "mutating": (10, 1)}, scale=2)
            self.assertEqual(c2.limits("CreateVpcEndpoint"), (16, 1.0))
            self.assertEqual(c2.limits("CreateSubnet"), (20, 2))
            with self.assertRaises(ValueError):
                BucketConfig.parse_rate("CreateVpc=4")

        def test_unfiltered_classification(self):
            self.assertEqual(bucket_key("DescribeSecurityGroups", {"Action": "x", "Version": "v"}), "DescribeSecurityGroups(unfiltered)")
            self.assertEqual(bucket_key("DescribeNetworkInterfaces", {}), "DescribeNetworkInterfaces(unfiltered)")
            for extra in ({"Filter.1.Name": "vpc-id"}, {"MaxResults": "5"}, {"NextToken": "t"}, {"GroupId.1": "sg-1"},
                          {"GroupName.1": "n"}, {"NetworkInterfaceId.1": "eni-1"}):
                self.assertEqual(bucket_key("DescribeSecurityGroups", dict(extra, Action="x")), "DescribeSecurityGroups", extra)
            self.assertEqual(bucket_key("DescribeVpcs", {}), "DescribeVpcs")
            self.assertFalse(is_mutating("DescribeVpcs"))
            self.assertTrue(is_mutating("CreateVpc"))

        def test_classify(self):
            auth = lambda svc: {"Authorization": f"AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/{svc}/aws4_request, SignedHeaders=host, Signature=ab",
                                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
            c = classify("POST", "/", auth("ec2"), b"Action=DescribeSecurityGroups&Version=2016-11-15")
            self.assertEqual((c["kind"], c["action"]), ("ec2", "DescribeSecurityGroups"))
            c = classify("POST", "/", auth("sts"), b"Action=GetCallerIdentity&Version=2011-06-15")
            self.assertEqual((c["kind"], c["service"], c["action"]), ("other", "sts", "GetCallerIdentity"))
            c = classify("POST", "/", {"Content-Type": "application/x-www-form-urlencoded"}, b"Action=CreateVpc&Version=2016-11-15")
            self.assertEqual(c["kind"], "ec2")
            h = dict(auth("sagemaker"), **{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.ListDomains"})
            c = classify("POST", "/", h, b"{}")
            self.assertEqual((c["kind"], c["action"]), ("other", "ListDomains"))
            self.assertEqual(classify("GET", "/_localstack/health", {}, b"")["kind"], "internal")
            self.assertEqual(classify("GET", "/_proxy/stats", {}, b"")["kind"], "control")

        def test_throttle_body(self):
            root = ET.fromstring(throttle_body("rid-1"))
            self.assertEqual(root.tag, "Response")
            self.assertEqual(root.findtext("Errors/Error/Code"), "RequestLimitExceeded")
            self.assertEqual(root.findtext("Errors/Error/Message"), "Request limit exceeded.")
            self.assertEqual(root.findtext("RequestID"), "rid-1")

        def test_pending_rewrite(self):
            eps = endpoint_states(CANNED_DESCRIBE)
            self.assertEqual([(e["id"], e["state"]) for e in eps], [("vpce-aaa", "available"), ("vpce-bbb", "available"), ("vpce-ccc", "deleted")])
            new, n = rewrite_pending(CANNED_DESCRIBE, {"vpce-aaa", "vpce-ccc"})
            self.assertEqual(n, 1)  # ccc is deleted, bbb is not pending
            root = ET.fromstring(new)
            ns = {"e": "http://ec2.amazonaws.com/doc/2016-11-15"}
            items = root.findall("e:vpcEndpointSet/e:item", ns)
            self.assertEqual([i.findtext("e:state", namespaces=ns) for i in items], ["pending", "available", "deleted"])
            # nested <state> elements and values elsewhere are untouched
            self.assertEqual(items[0].findtext("e:dnsEntrySet/e:item/e:state", namespaces=ns), "available")
            self.assertEqual(items[0].findtext("e:tagSet/e:item/e:value", namespaces=ns), "available")
            self.assertIn(b"&quot;state&quot;: &quot;available&quot;", new)
            self.assertEqual(len(new), len(CANNED_DESCRIBE) - len("available") + len("pending"))
            new, n = rewrite_pending(CANNED_CREATE, {"vpce-ccc"})
            self.assertEqual(n, 1)
            self.assertIn(b"<state>pending</state>", new)
            self.assertEqual(rewrite_pending(CANNED_CREATE, set()), (CANNED_CREATE, 0))
            self.assertEqual(rewrite_pending(b"<not-xml", {"x"}), (b"<not-xml", 0))

        def test_proxy_loopback(self):
            # A fake upstream on loopback; the proxy in front with tiny buckets.
            class Up(http.server.BaseHTTPRequestHandler):
                protocol_version = "HTTP/1.1"

                def log_message(self, *a):
                    pass

                def do_POST(self):
                    if len(self.headers.get_all("Content-Length") or []) != 1 or len(self.headers.get_all("Host") or []) != 1:
                        self.send_response(400)  # as LocalStack does for a repeated header
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    n = int(self.headers.get("Content-Length") or 0)
                    body = self.rfile.read(n)
                    out = CANNED_CREATE if b"CreateVpcEndpoint" in body else CANNED_DESCRIBE if b"DescribeVpcEndpoints" in body else b"<ok/>"
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)

            up = Server(("127.0.0.1", 0), Up)
            threading.Thread(target=up.serve_forever, daemon=True).start()
            args = argparse.Namespace(upstream=f"http://127.0.0.1:{up.server_address[1]}", no_throttle=False,
                                      latency_ms=0, endpoint_pending_s=60)
            st = State(args, BucketConfig({"CreateVpcEndpoint": (2, 0.001)}))
            px = Server(("127.0.0.1", 0), make_handler(st))
            threading.Thread(target=px.serve_forever, daemon=True).start()
            pport = px.server_address[1]

            def call(body, path="/", method="POST"):
                c = http.client.HTTPConnection("127.0.0.1", pport, timeout=10)
                c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                for k, v in (("host", f"127.0.0.1:{pport}"), ("content-type", "application/x-www-form-urlencoded"),
                             ("content-length", str(len(body))), ("amz-sdk-request", "attempt=3; max=3"),
                             ("authorization", "AWS4-HMAC-SHA256 Credential=t/20250101/us-east-1/ec2/aws4_request, S=1")):
                    c.putheader(k, v)
                c.endheaders(body)
                r = c.getresponse()
                d = r.read()
                c.close()
                return r.status, d

            try:
                codes = [call(b"Action=CreateVpcEndpoint&Version=2016-11-15")[0] for _ in range(3)]
                self.assertEqual(codes, [200, 200, 503])
                s, d = call(b"Action=DescribeVpcEndpoints&Version=2016-11-15")
                self.assertIn(b"<vpcEndpointId>vpce-ccc</vpcEndpointId><state>deleted</state>", d)  # not available: untouched
                self.assertIn(b"<vpcEndpointId>vpce-aaa</vpcEndpointId><vpcEndpointType>Interface</vpcEndpointType><state>available</state>", d)
                stats = json.loads(call(b"", "/_proxy/stats", "GET")[1])
                self.assertEqual(stats["ec2"]["calls"], {"CreateVpcEndpoint": 2, "DescribeVpcEndpoints": 1})
                self.assertEqual(stats["ec2"]["throttled"], {"CreateVpcEndpoint": 1})
                self.assertEqual(stats["ec2"]["mutating"], 2)
                self.assertEqual(stats["pending_rewrites"], 2)  # both CreateVpcEndpoint answers
                self.assertEqual(stats["ec2"]["attempts"]["CreateVpcEndpoint"], {"3": 3})
                self.assertEqual(stats["ec2"]["gave_up"], {"CreateVpcEndpoint": 1})
                self.assertEqual(stats["ec2"]["client_max_attempts"]["CreateVpcEndpoint"], 3)
                self.assertEqual(call(b"", "/_proxy/reset", "POST")[0], 200)
                self.assertEqual(call(b"Action=CreateVpcEndpoint&Version=2016-11-15")[0], 200)  # refilled
                stats = json.loads(call(b"", "/__proxy/stats", "GET")[1])
                self.assertEqual(stats["ec2"]["throttled"], {})
            finally:
                px.shutdown()
                up.shutdown()

    suite = unittest.defaultTestLoader.loadTestsFromTestCase(T)
    res = unittest.TextTestRunner(verbosity=2).run(suite)
    return 0 if res.wasSuccessful() else 1


# ----------------------------------------------------------------------------------------


def _env(name, default):
    return os.environ.get(f"THROTTLEPROXY_{name}", default)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", default=_env("UPSTREAM", "http://127.0.0.1:4566"))
    p.add_argument("--port", type=int, default=int(_env("PORT", "0")))
    p.add_argument("--rate", action="append", default=[], metavar="KEY=CAP/REFILL")
    p.add_argument("--scale", type=float, default=float(_env("SCALE", "1")))
    p.add_argument("--shared-buckets", action="store_true", default=_env("SHARED_BUCKETS", "0") == "1")
    p.add_argument("--no-throttle", action="store_true", default=_env("NO_THROTTLE", "0") == "1")
    p.add_argument("--latency-ms", type=float, default=float(_env("LATENCY_MS", "0")))
    p.add_argument("--endpoint-pending-s", type=float, default=float(_env("ENDPOINT_PENDING_S", "0")))
    p.add_argument("--max-seconds", type=float, default=float(_env("MAX_SECONDS", "7200")))
    p.add_argument("--self-test", action="store_true")
    args = p.parse_args(argv)
    if args.self_test:
        return self_test()
    specs = [s for s in _env("RATES", "").split(",") if s.strip()] + args.rate
    try:
        overrides = dict(BucketConfig.parse_rate(s) for s in specs)
    except ValueError as e:
        p.error(str(e))
    up = urllib.parse.urlsplit(args.upstream)
    if up.hostname not in ("127.0.0.1", "localhost", "::1"):
        p.error("--upstream must be on loopback")
    state = State(args, BucketConfig(overrides, args.scale, args.shared_buckets))
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
