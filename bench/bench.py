#!/usr/bin/env python3
"""sagevpc performance benchmark under EC2's request throttling (stdlib only). `make bench`.

One run measures, side by side:

  1. sagevpc and Terraform (bench/tf_peer.py: bench/terraform/standard, and bench/tf_large.py
     for the large plan) through bench/throttleproxy.py with EC2's documented default request
     buckets, for the standard plan (plans/studio-vpc.toml under a unique name) and the large
     plan (bench/gen_large_plan.py): cold apply, no-op plan, destroy. Every (rep, plan, tool)
     run gets a fresh private LocalStack (LocalStack keeps deleted VPC endpoints and slows
     down with them), warmed up by one unrecorded sagevpc apply/destroy of the standard plan
     (pacing lifted) and an STS and IAM call, and its own proxy; the proxy's counters are
     reset before each phase and read after it;
  2. bench/run.py's CloudFormation comparison: a whole `sagevpc apply` of the standard plan
     (direct to LocalStack; with the default buckets and with the endpoint bucket lifted)
     against LocalStack's CloudFormation deploying bench/studio-vpc.cfn.yaml;
  3. only with BENCH_LATENCY_SUITE=1: bench/run.py's older latency suite (fault proxy with
     50 ms per call, ~5 more minutes), appended to the report;

and writes bench/results.json and bench/RESULTS.md (generated: do not edit by hand).

sagevpc: `--stats --endpoint-url PROXY apply PLAN --auto-approve` / `plan PLAN
--detailed-exitcode` / `destroy PLAN --auto-approve`, default flags otherwise; wall time
around the whole process and its peak RSS (GNU time %M, see run.run_measured). Terraform:
`apply -auto-approve` / `plan -detailed-exitcode` / `destroy -auto-approve`, -parallelism=10,
after an unrecorded `init` and a `plan -refresh=false` of the empty state (its start-up cost).

The bound of an apply or destroy is the bucket bound of the calls the changeset needs (for
each action max(0, (needed - capacity) / refill), the largest; needed = sagevpc's `stats:
changeset needs` lines, the minimum any tool must make for that change) PLUS the dependency
chain: the calls on sagevpc's `stats: changeset critical path actions`, each at the median
time the proxy measured for that action (request in to answer out, LocalStack's time and
injected latency) in sagevpc's runs of that plan and phase, plus W x w for the W endpoint
waits of `stats: changeset N nodes; critical path C API calls and W endpoint waits`, with w = max(BENCH_ENDPOINT_PENDING_S, 0.25 s: the waiter's first poll) for
apply, 0.25 s for destroy. The bound is the same for both tools of a plan and phase.
(sagevpc's own `stats: execute measured critical path` is shown too, but it is not a bound:
it contains the run's own waits for tokens and resent throttled calls.)

Nothing is left behind: a failed sagevpc destroy is repeated with throttling off, a failed
Terraform destroy likewise (tf_peer), stacks are deleted, and every LocalStack instance and
proxy started here is stopped (the instances are discarded after each run anyway). Only
127.0.0.1 is contacted; the shared LocalStack on 4566 is never used.

Environment:
  BENCH_BIN                 sagevpc binary to measure (default: `cargo build --locked`, then
                            target/debug/sagevpc); a private copy is measured
  BENCH_BIN_COMMIT          the commit BENCH_BIN was built from (for the report)
  BENCH_REPS (3)            repetitions of every run but Terraform's large plan
  BENCH_TF_LARGE_REPS (1)   repetitions of Terraform's large plan (about 7 min each)
  BENCH_LATENCY_MS (0)      proxy latency per EC2 call
  BENCH_ENDPOINT_PENDING_S (0)  proxy reports new endpoints `pending` for this long
  BENCH_PLANS (standard,large), BENCH_TOOLS (sagevpc,terraform)
  BENCH_CFN (1), BENCH_CFN_REPS (3)   the CloudFormation comparison
  BENCH_LATENCY_SUITE (0)   1 also runs bench/run.py's latency suite (BENCH_LATENCY_REPS, 3)
  BENCH_LOCALSTACK_PORT (4611)  port of the private LocalStack (the latency suite: +1)
  BENCH_TIMEOUT_S (1800)    per command
  BENCH_OUT (bench/)        where results.json and RESULTS.md go

`python3 bench/bench.py --report-only` re-renders RESULTS.md from results.json.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.dont_write_bytecode = True  # no bench/__pycache__ in the work tree
sys.path.insert(0, HERE)
import run as rb  # noqa: E402  (CloudFormation comparison, SigV4 calls, run_measured, parse_stats)
import tf_large  # noqa: E402
import tf_peer  # noqa: E402
import throttleproxy as tp  # noqa: E402

WORK = os.path.join(HERE, ".work", "bench")
OUT_DIR = os.environ.get("BENCH_OUT") or HERE
POLICY = os.path.join(ROOT, "plans", "policies", "s3-deny-amazon-linux-repos.json")
TF_STD = os.path.join(HERE, "terraform", "standard")

REPS = int(os.environ.get("BENCH_REPS", "3"))
TF_LARGE_REPS = int(os.environ.get("BENCH_TF_LARGE_REPS", "1"))
LATENCY_MS = float(os.environ.get("BENCH_LATENCY_MS", "0"))
PENDING_S = float(os.environ.get("BENCH_ENDPOINT_PENDING_S", "0"))
PLANS = [p for p in os.environ.get("BENCH_PLANS", "standard,large").split(",") if p]
TOOLS = [t for t in os.environ.get("BENCH_TOOLS", "sagevpc,terraform").split(",") if t]
DO_CFN = os.environ.get("BENCH_CFN", "1") != "0"
CFN_REPS = int(os.environ.get("BENCH_CFN_REPS", "3"))
LATENCY_SUITE = os.environ.get("BENCH_LATENCY_SUITE", "0") == "1"
LS_PORT = int(os.environ.get("BENCH_LOCALSTACK_PORT", "4611"))
TIMEOUT_S = float(os.environ.get("BENCH_TIMEOUT_S", "1800"))

# Targets (the performance issue).
TARGET_BOUND_RATIO = 1.15
TARGET_TF_APPLY_SPEEDUP = 2.0
TARGET_TF_NOOP_CALL_RATIO = 10.0
TARGET_RSS_MB = 100.0
TARGET_CFN_RATIO = 1.0
FIRST_POLL_S = 0.25  # sagevpc's waiter polls first after initial_delay / 4 (src/execute/waiter.rs)
EXPECTED_ENDPOINT_LEVELS = 1  # the large plan's endpoints leave in one dependency level
LIFT_ENDPOINT_BUCKET = ("--rate", "CreateVpcEndpoint=1000/1000")
PHASES = ("apply", "plan", "destroy")
PHASE_NAME = {"apply": "cold apply", "plan": "no-op plan", "destroy": "destroy", "startup": "start-up probe"}
RULE_ACTIONS = ("AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
                "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress")
THROTTLE_ERR = re.compile(r"RequestLimitExceeded|throttl|rate exceeded", re.I)
ERROR_LINE = re.compile(r"error|failed|gave up|giving up", re.I)

for _p in (LS_PORT, LS_PORT + 1):
    if _p == 4566:
        raise SystemExit("BENCH_LOCALSTACK_PORT: 4566 (and 4565) belong to the shared LocalStack; pick another port")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------------------
# Processes: proxy, LocalStack (bench/run.py's PrivateLocalStack), warm-up


class Proxy:
    """bench/throttleproxy.py on an ephemeral loopback port in front of `upstream`."""

    def __init__(self, upstream: str, logdir: str):
        args = [sys.executable, os.path.join(HERE, "throttleproxy.py"), "--upstream", upstream, "--port", "0",
                "--latency-ms", str(LATENCY_MS), "--endpoint-pending-s", str(PENDING_S), "--max-seconds", "7200"]
        self.err = open(os.path.join(logdir, "throttleproxy.stderr"), "a")
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.err, stdin=subprocess.DEVNULL, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("LISTENING"):
            self.stop()
            raise SystemExit(f"throttle proxy did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.err.close()


def fresh_localstack(workdir: str):
    """A new private LocalStack on LS_PORT, warmed up: one unrecorded sagevpc apply/destroy
    of the standard plan straight to it (endpoint pacing lifted: nothing is measured) and
    the STS/IAM calls of Terraform's account lookup, so lazy loading is not timed."""
    ls = rb.PrivateLocalStack(LS_PORT, workdir)
    try:
        plan = make_plan("standard", f"warm{int(time.time() * 1000) % 10**8}", os.path.join(workdir, "warmup"))
        for cmd in (["apply", plan, "--auto-approve"], ["destroy", plan, "--auto-approve"]):
            r = subprocess.run([rb.BIN, "--endpoint-url", ls.url, *cmd, *LIFT_ENDPOINT_BUCKET], env=rb.child_env(),
                               capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
            if r.returncode != 0:
                raise SystemExit(f"warm-up {cmd[0]} failed:\n{r.stderr[-3000:]}")
        for svc, params, ver in (("sts", {"Action": "GetCallerIdentity"}, "2011-06-15"),
                                 ("iam", {"Action": "GetUser"}, "2010-05-08")):
            rb.aws_query(svc, params, ver, url=ls.url)
    except BaseException:
        ls.stop()
        raise
    return ls


def ls_version(url):
    try:
        import urllib.request

        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=3) as r:
            return json.load(r).get("version", "?")
    except (OSError, ValueError):
        return "?"


def make_plan(kind, name, d):
    if kind == "standard":
        return rb.make_standard_plan(name, d)
    return rb.make_large_plan(name, d)


def rule_directions(plan_path):
    """(groups with ingress rules) + (groups with egress rules) of a sagevpc plan: the
    fewest Authorize calls that can create its rules (one per group and direction)."""
    with open(plan_path, "rb") as f:
        p = tomllib.load(f)
    groups = p.get("security_groups", {})
    return sum(1 for g in groups.values() for d in ("ingress", "egress") if g.get(d))


# ----------------------------------------------------------------------------------------
# sagevpc


def parse_sv(stderr: str) -> dict:
    s = rb.parse_stats(stderr)
    s["needs"], s["paced_s"], s["throttled"] = {}, {}, {}
    for line in stderr.splitlines():
        if m := re.match(r"stats: changeset needs (\S+)\s+(\d+)$", line):
            s["needs"][m.group(1)] = int(m.group(2))
        elif m := re.match(r"stats: paced\s+(\S+)\s+waited ([\d.]+)s", line):
            s["paced_s"][m.group(1)] = float(m.group(2))
        elif m := re.match(r"stats: throttled\s+(\S+)\s+(\d+)$", line):
            s["throttled"][m.group(1)] = int(m.group(2))
    return s


def surfaced_throttle_errors(text: str) -> list:
    """Lines of a tool's output that report throttling to the user as an error (not the
    --stats lines)."""
    return [ln for ln in text.splitlines()
            if THROTTLE_ERR.search(ln) and ERROR_LINE.search(ln) and not ln.startswith("stats:")]


def proxy_record(proxy_url):
    st = tf_peer.summarize_stats(tf_peer.proxy_stats(proxy_url))
    st["passthrough_total"] = sum(st["passthrough"].values())
    st["api_total"] = st["ec2_total"] + st["passthrough_total"]
    st["own_bucket_bound_s"] = st.pop("bucket_bound_s")
    st["own_bucket_bound_action"] = st.pop("bucket_bound_action")
    return st


def sv_phase(phase, plan, proxy_url, logprefix):
    args = [rb.BIN, "--stats", "--endpoint-url", proxy_url,
            *{"apply": ["apply", plan, "--auto-approve"], "plan": ["plan", plan, "--detailed-exitcode"],
              "destroy": ["destroy", plan, "--auto-approve"]}[phase]]
    tf_peer.proxy_reset(proxy_url)
    r = rb.run_measured(args, logprefix)
    rec = {"tool": "sagevpc", "phase": phase, "rc": r["rc"], "ok": r["rc"] == 0, "wall_s": round(r["wall_s"], 3),
           "maxrss_kb": r["maxrss_kb"], "rss_source": r["rss_source"], "cpu_s": round(r["user_s"] + r["sys_s"], 3),
           "timed_out": r["timed_out"], "log": r["log"], **proxy_record(proxy_url)}
    sv = parse_sv(r["stderr"])
    rec["sagevpc"] = sv
    rec["exec_s"] = sv["phases"].get("execute")
    rec["surfaced_throttle_errors"] = surfaced_throttle_errors(r["stderr"])
    if not rec["ok"]:
        rec["stderr_tail"] = "\n".join(ln for ln in r["stderr"].splitlines() if not ln.startswith("stats:"))[-3000:]
    return rec


def run_sagevpc(plan, proxy_url, d):
    phases = []
    for phase in PHASES:
        r = sv_phase(phase, plan, proxy_url, os.path.join(d, f"sagevpc-{phase}"))
        phases.append(r)
        log(f"  sagevpc {phase:7} rc={r['rc']} wall={r['wall_s']:.2f}s execute={r['exec_s']} ec2={r['ec2_total']}"
            f"/{r['ec2_mutating']} throttled={r['throttled_total']} rss={r['maxrss_kb'] / 1024:.1f}MB")
        if not r["ok"]:
            log(f"  !! sagevpc {phase} exit {r['rc']}:\n{r.get('stderr_tail', '')[-1500:]}")
    if not phases[-1]["ok"]:
        log("  sagevpc destroy failed: cleanup destroy with throttling off")
        tf_peer.proxy_call(proxy_url, "/_proxy/throttle?on=0", "POST")
        c = sv_phase("destroy", plan, proxy_url, os.path.join(d, "sagevpc-cleanup-destroy"))
        c["phase"] = "cleanup-destroy"
        phases.append(c)
    return {"phases": phases, "ok": all(p["ok"] for p in phases[:3])}


# ----------------------------------------------------------------------------------------
# Terraform


def run_terraform(plan_kind, proxy_url, name, d, tf_large_dir):
    tf_dir = TF_STD if plan_kind == "standard" else tf_large_dir
    work = os.path.join(d, "tf")
    r = tf_peer.run_peer(tf_dir, proxy_url, name, work=work, policy_file=POLICY, timeout_s=TIMEOUT_S,
                         startup_probe=True)
    for p in r["phases"] + ([r["startup"]] if r.get("startup") else []):
        p["passthrough_total"] = sum(p["passthrough"].values())
        p["api_total"] = p["ec2_total"] + p["passthrough_total"]
        p["own_bucket_bound_s"] = p.pop("bucket_bound_s")
        p["own_bucket_bound_action"] = p.pop("bucket_bound_action")
        logf = os.path.join(work, f"{'cleanup-destroy' if p['phase'] == 'cleanup-destroy' else p['phase']}.log")
        try:
            with open(logf) as f:
                p["surfaced_throttle_errors"] = surfaced_throttle_errors(f.read())
        except OSError:
            p["surfaced_throttle_errors"] = []
        p["log"] = os.path.relpath(logf, ROOT)
        log(f"  terraform {p['phase']:7} rc={p['rc']} wall={p['wall_s']:.2f}s ec2={p['ec2_total']}/{p['ec2_mutating']} "
            f"throttled={p['throttled_total']}")
    return r


def tf_versions(work):
    """`terraform version` in an initialised directory: the CLI and the provider."""
    try:
        out = subprocess.run(["terraform", "version"], cwd=work, env=tf_peer.tf_env(work), capture_output=True,
                             text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {"terraform": "?", "providers": []}
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    return {"terraform": next((ln for ln in lines if ln.startswith("Terraform v")), "?"),
            "providers": [ln.lstrip("+ ").strip() for ln in lines if ln.startswith("+ provider")]}


# ----------------------------------------------------------------------------------------
# Analysis


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def median_rec(recs):
    """The record whose wall time is the median (the lower middle for an even count)."""
    rs = sorted(recs, key=lambda r: r["wall_s"])
    return rs[(len(rs) - 1) // 2]


def chain_time(n, t, per_action, wait):
    """The dependency chain at the server's own time for each call on it: the median
    time of that action in sagevpc's runs (the median mutating call for an action never
    timed), plus the endpoint waits. Without the chain's actions: C x t + W x w."""
    actions = n.get("cp_actions")
    if not actions:
        return n["cp_calls"] * (t or 0) + n["cp_waits"] * wait
    return sum(med(per_action[a]) if per_action.get(a) else (t or 0) for a in actions) + n["cp_waits"] * wait


def analyse(results):
    """Per-record bounds, then one summary row per (plan, tool, phase)."""
    recs = [dict(p, plan=r["plan"], rep=r["rep"]) for r in results["runs"] for p in r["phases"]]
    sv = [p for p in recs if p["tool"] == "sagevpc" and p["phase"] in ("apply", "destroy")]
    needs, t_call, t_action = {}, {}, {}
    for p in sv:
        k = (p["plan"], p["phase"])
        if p["sagevpc"]["needs"] and p["sagevpc"]["cp_calls"] is not None and k not in needs:
            needs[k] = {"needs": p["sagevpc"]["needs"], "nodes": p["sagevpc"]["nodes"],
                        "cp_calls": p["sagevpc"]["cp_calls"], "cp_waits": p["sagevpc"]["cp_waits"],
                        "cp_actions": p["sagevpc"].get("cp_actions")}
        mc = (p.get("mutating_call_ms") or {}).get("median")
        if mc is not None:
            t_call.setdefault(k, []).append(mc / 1000)
        for a, d in (p.get("call_ms") or {}).items():
            if d.get("median") is not None:
                t_action.setdefault(k, {}).setdefault(a, []).append(d["median"] / 1000)
    bounds = {}
    for k, n in needs.items():
        bb = tp.bucket_bound(n["needs"])
        t = med(t_call.get(k, []))
        wait = max(PENDING_S, FIRST_POLL_S) if k[1] == "apply" else FIRST_POLL_S
        chain = chain_time(n, t, t_action.get(k, {}), wait)
        bounds[k] = dict(n, bucket_s=bb["bound_s"], bucket_action=bb["action"], per_bucket=bb["per_bucket"],
                         call_s=t, wait_s=wait, chain_s=chain, total_s=bb["bound_s"] + chain)
    for p in recs:
        b = bounds.get((p["plan"], p["phase"]))
        if not b:
            continue
        p["bound"] = {k: b[k] for k in ("bucket_s", "bucket_action", "chain_s", "call_s", "wait_s", "total_s")}
        t = b["total_s"]
        p["wall_ratio"] = p["wall_s"] / t if t else None
        p["exec_ratio"] = p["exec_s"] / t if t and p.get("exec_s") is not None else None
    groups = {}
    for p in recs:
        if p["phase"] in PHASES:
            groups.setdefault((p["plan"], p["tool"], p["phase"]), []).append(p)
    summary = []
    for (plan, tool, phase), ps in groups.items():
        m = median_rec(ps)
        walls = sorted(p["wall_s"] for p in ps)
        row = {
            "plan": plan, "tool": tool, "phase": phase, "n": len(ps), "n_ok": sum(p["ok"] for p in ps),
            "rcs": [p["rc"] for p in ps], "wall_s": med(walls), "wall_min_s": walls[0], "wall_max_s": walls[-1],
            "api_total": m["api_total"], "ec2_total": m["ec2_total"], "ec2_mutating": m["ec2_mutating"],
            "calls": m["calls"], "throttled": m["throttled"], "throttled_total": m["throttled_total"],
            "throttled_early_ms": m.get("throttled_early_ms") or {}, "mutating_call_ms": m.get("mutating_call_ms"),
            "throttled_total_max": max(p["throttled_total"] for p in ps),
            "surfaced_throttle_errors": sum(len(p.get("surfaced_throttle_errors", [])) for p in ps),
            "own_bucket_bound_s": m["own_bucket_bound_s"], "own_bucket_bound_action": m["own_bucket_bound_action"],
            "bound": m.get("bound"), "wall_ratio": med([p.get("wall_ratio") for p in ps]),
            "exec_s": med([p.get("exec_s") for p in ps]), "exec_ratio": med([p.get("exec_ratio") for p in ps]),
            "exec_ratio_max": max((p["exec_ratio"] for p in ps if p.get("exec_ratio") is not None), default=None),
            "wall_ratio_max": max((p["wall_ratio"] for p in ps if p.get("wall_ratio") is not None), default=None),
            "maxrss_mb": med([p["maxrss_kb"] / 1024 for p in ps]) if tool == "sagevpc" else None,
            "maxrss_mb_max": max(p["maxrss_kb"] / 1024 for p in ps) if tool == "sagevpc" else None,
            "median_rep": m["rep"],
        }
        if tool == "sagevpc":
            s = m["sagevpc"]
            row.update(needs=s["needs"], sv_calls_total=s["calls_total"], cp_calls=s["cp_calls"], cp_waits=s["cp_waits"],
                       nodes=s["nodes"], measured_cp_s=s.get("measured_cp_s"), sv_phases=s["phases"],
                       paced_s=s["paced_s"], sv_throttled=s["throttled"])
        summary.append(row)
    order = {"standard": 0, "large": 1}
    summary.sort(key=lambda r: (order.get(r["plan"], 9), PHASES.index(r["phase"]), r["tool"] != "sagevpc"))
    startup = {}
    for r in results["runs"]:
        if r.get("startup"):
            startup.setdefault(r["plan"], []).append(r["startup"]["wall_s"])
    return summary, {f"{a}/{b}": v for (a, b), v in bounds.items()}, {k: med(v) for k, v in startup.items()}


def row(summary, plan, tool, phase):
    return next((r for r in summary if (r["plan"], r["tool"], r["phase"]) == (plan, tool, phase)), None)


def f2(x, nd=2):
    return "–" if x is None else f"{x:.{nd}f}"


def targets(res):
    s, out = res["summary"], []

    def add(target, measured, met):
        out.append({"target": target, "measured": measured, "met": bool(met) if met is not None else None})

    sv_runs = [dict(p, plan=r["plan"]) for r in res["runs"] if r["tool"] == "sagevpc" for p in r["phases"]
               if p["phase"] in ("apply", "destroy")]
    if sv_runs:
        ok = sum(p["ok"] for p in sv_runs)
        add("every sagevpc apply/destroy under the proxy exits 0",
            f"{ok}/{len(sv_runs)} exit 0 (exit codes {sorted(set(p['rc'] for p in sv_runs))})", ok == len(sv_runs))
        thr = sum(p["throttled_total"] for p in sv_runs)
        surf = sum(len(p["surfaced_throttle_errors"]) for p in sv_runs)
        add("0 throttled answers surface as errors (sagevpc resends them)",
            f"{thr} throttled answers from the proxy in those runs, {surf} reported as errors", surf == 0 and ok == len(sv_runs))
    for plan in res["meta"].get("plans", PLANS):
        for phase in ("apply", "destroy"):
            r = row(s, plan, "sagevpc", phase)
            if not r or not r.get("bound"):
                continue
            b = r["bound"]
            add(f"{plan} {PHASE_NAME[phase]}: execute ≤ {TARGET_BOUND_RATIO}× bound (bucket + chain)",
                f"execute {f2(r['exec_s'])} s / bound {f2(b['total_s'])} s (bucket {f2(b['bucket_s'])}"
                f"{' ' + b['bucket_action'] if b['bucket_action'] else ''} + chain {f2(b['chain_s'])}) = **{f2(r['exec_ratio'])}×** ({r['exec_s'] - b['total_s']:+.2f} s)"
                + (f", worst of {r['n']} {f2(r['exec_ratio_max'])}×" if r["n"] > 1 else "")
                + f"; whole process {f2(r['wall_s'])} s = {f2(r['wall_ratio'])}×",
                r["exec_ratio"] is not None and r["exec_ratio"] <= TARGET_BOUND_RATIO)
    la, ld = row(s, "large", "sagevpc", "apply"), row(s, "large", "sagevpc", "destroy")
    lim = res["meta"].get("large_rule_directions")
    if la and lim:
        made_a = sum(la["calls"].get(a, 0) for a in RULE_ACTIONS)
        made_d = sum(ld["calls"].get(a, 0) for a in RULE_ACTIONS) if ld else 0
        add(f"large plan rule calls ≤ groups-with-rules × directions ({lim})",
            f"apply {made_a}, destroy {made_d} (Authorize/Revoke calls)", made_a <= lim and made_d <= lim)
    if ld:
        n = ld["calls"].get("DeleteVpcEndpoints", 0)
        need = ld.get("needs", {}).get("DeleteVpcEndpoints")
        add(f"large destroy: ≤ one DeleteVpcEndpoints per dependency level ({EXPECTED_ENDPOINT_LEVELS})",
            f"{n} call(s) (changeset needs {need})", n <= EXPECTED_ENDPOINT_LEVELS)
    ta, tn, sn = row(s, "large", "terraform", "apply"), row(s, "large", "terraform", "plan"), row(s, "large", "sagevpc", "plan")
    if la and ta:
        x = ta["wall_s"] / la["wall_s"]
        add(f"large cold apply ≥ {TARGET_TF_APPLY_SPEEDUP:.0f}× faster than Terraform (wall)",
            f"Terraform {f2(ta['wall_s'], 1)} s / sagevpc {f2(la['wall_s'], 1)} s = **{x:.2f}×**"
            + ("" if ta["n_ok"] == ta["n"] else " (Terraform apply failed)"), x >= TARGET_TF_APPLY_SPEEDUP)
    if sn and tn:
        x = tn["api_total"] / sn["api_total"]
        add(f"large no-op plan ≥ {TARGET_TF_NOOP_CALL_RATIO:.0f}× fewer API calls than Terraform",
            f"Terraform {tn['api_total']} / sagevpc {sn['api_total']} = **{x:.1f}×**", x >= TARGET_TF_NOOP_CALL_RATIO)
    lr = [r for r in s if r["plan"] == "large" and r["tool"] == "sagevpc"]
    if lr:
        rss = max(r["maxrss_mb_max"] for r in lr)
        add(f"peak RSS of the large plan < {TARGET_RSS_MB:.0f} MB", f"{rss:.1f} MB (max over its apply/plan/destroy runs)",
            rss < TARGET_RSS_MB)
    c = res.get("cfn")
    if c:
        lifted = next((v for v in c["variants"] if v["label"] == "endpoint bucket lifted"), None)
        if lifted and lifted["ratio"] is not None:
            add(f"standard apply / LocalStack CloudFormation ≤ {TARGET_CFN_RATIO:.0f} (no proxy; endpoint bucket lifted: "
                "LocalStack's CloudFormation is not throttled)",
                f"{f2(lifted['apply_s'])} s / {f2(c['cfn_deploy_s'])} s = **{f2(lifted['ratio'])}**", lifted["ratio"] <= TARGET_CFN_RATIO)
        d = next((v for v in c["variants"] if v["label"] == "default buckets"), None)
        if d and d["ratio"] is not None:
            add("(information) the same with sagevpc's default buckets",
                f"{f2(d['apply_s'])} s / {f2(c['cfn_deploy_s'])} s = {f2(d['ratio'])} (sagevpc paces 6 CreateVpcEndpoint "
                "calls to the 4/0.3 bucket: ≥ 6.67 s)", None)
    return out


# ----------------------------------------------------------------------------------------
# Report


def mut_by_action(calls):
    return ", ".join(f"{a} {n}" for a, n in sorted(calls.items()) if tp.is_mutating(a)) or "–"


def terraform_better(res):
    """Where Terraform's measured numbers beat sagevpc's, from the summary."""
    s, out, lock = res["summary"], [], []
    lock_actions = ("CreateKeyPair", "DeleteKeyPair", "CreateTags")
    for plan in res["meta"].get("plans", PLANS):
        for phase in PHASES:
            a, b = row(s, plan, "sagevpc", phase), row(s, plan, "terraform", phase)
            if not a or not b:
                continue
            for key, label in (("wall_s", "wall time (s)"), ("api_total", "API calls"), ("ec2_mutating", "mutating EC2 calls"),
                               ("throttled_total", "throttled answers")):
                if b[key] is not None and a[key] is not None and b[key] < a[key]:
                    out.append(f"{plan} {PHASE_NAME[phase]}: Terraform {label} {b[key]:g} vs sagevpc {a[key]:g}.")
            if phase in ("apply", "destroy"):
                extra = {k: v for k, v in a["calls"].items() if tp.is_mutating(k) and v > b["calls"].get(k, 0)}
                lk = {k: v - b["calls"].get(k, 0) for k, v in extra.items() if k in lock_actions}
                if lk:
                    lock.append(f"{plan} {PHASE_NAME[phase]} " + " + ".join(f"{k} {v}" for k, v in sorted(lk.items())))
                other = {k: v for k, v in extra.items() if k not in lock_actions}
                if other:
                    out.append(f"{plan} {PHASE_NAME[phase]}: sagevpc makes more of these mutating calls than Terraform: "
                               + ", ".join(f"{k} {v} vs {b['calls'].get(k, 0)}" for k, v in sorted(other.items())) + ".")
    if lock:
        out.insert(0, "No lock calls: sagevpc's apply lock is an EC2 key pair (CreateKeyPair, DeleteKeyPair, and CreateTags to "
                      "renew its lease every 20 s of a long run), mutating calls Terraform's local state does without: "
                      + "; ".join(lock) + ". (With a shared backend Terraform would lock too, outside EC2.)")
    return out

def observations(res):
    """Generated remarks on what the numbers show (throttled answers, extra calls)."""
    out, s = [], res["summary"]
    sv = [dict(p, plan=r["plan"], rep=r["rep"]) for r in res["runs"] if r["tool"] == "sagevpc" for p in r["phases"]
          if p["phase"] in PHASES]
    hit = [p for p in sv if p["throttled_total"]]
    if hit:
        out.append(f"sagevpc got throttled answers in {len(hit)} of its {len(sv)} commands under the proxy. Its own buckets pace "
                   "calls to the exact refill instant, while the proxy's bucket (like EC2's) starts when the first call "
                   "arrives, a little later than sagevpc took its token: a paced call can arrive a fraction of a millisecond "
                   "early and is refused. None surfaced; each was resent at the next token, 1/refill later (3.3 s for "
                   "CreateVpcEndpoint, 0.2 s for the 50/5 buckets), and that delay lands on the run's wall time when the "
                   "refused call is on the critical path:")
        for plan in res["meta"].get("plans", PLANS):
            for phase in PHASES:
                ps = [p for p in sv if (p["plan"], p["phase"]) == (plan, phase)]
                hs = [p for p in ps if p["throttled_total"]]
                if not hs:
                    continue
                acts, early = {}, []
                for p in hs:
                    for a, n in p["throttled"].items():
                        acts[a] = acts.get(a, 0) + n
                    early += [x for v in (p.get("throttled_early_ms") or {}).values() for x in v]
                clean = [p["exec_s"] for p in ps if not p["throttled_total"] and p.get("exec_s") is not None]
                ex = med([p.get("exec_s") for p in hs])
                b = (row(s, plan, "sagevpc", phase) or {}).get("bound")
                cmp_ = (f"execute {f2(ex)} s in those runs vs {f2(med(clean))} s in the others" if clean else
                        f"execute {f2(ex)} s" + (f" against a bound of {f2(b['total_s'])} s" if b else ""))
                out.append(f"  {plan} {PHASE_NAME[phase]}: {len(hs)} of {len(ps)} runs, "
                           + ", ".join(f"{a} {n}" for a, n in sorted(acts.items()))
                           + (f", {min(early):g}–{max(early):g} ms early" if early else "") + f"; {cmp_}.")
        c = res.get("cfn")
        d = next((v for v in (c or {}).get("variants", []) if v["label"] == "default buckets"), None)
        if d:
            out.append(f"  The same standard apply straight to LocalStack (no proxy, no throttled answer possible; "
                       f"CloudFormation section) took {f2(d['apply_s'])} s with the default buckets.")
    elif sv:
        out.append(f"sagevpc got no throttled answer in any of its {len(sv)} commands: its client-side buckets kept every call "
                   "within the proxy's.")
    for plan in res["meta"].get("plans", PLANS):
        for phase in ("apply", "destroy"):
            a, b = row(s, plan, "sagevpc", phase), row(s, plan, "terraform", phase)
            if not b or not b.get("bound"):
                continue
            need = sum((a or {}).get("needs", {}).values()) if a else None
            extra = ""
            if b["own_bucket_bound_s"] and b["own_bucket_bound_s"] > b["bound"]["bucket_s"] + 0.01:
                extra = (f"; its own calls' bucket bound is {b['own_bucket_bound_s']:.1f} s ({b['own_bucket_bound_action']}) "
                         f"against {b['bound']['bucket_s']:.1f} s for the calls needed")
            att = max((int(k) for v in (median_rec([p for r in res["runs"] if r["tool"] == "terraform" and r["plan"] == plan
                                                    for p in r["phases"] if p["phase"] == phase]).get("attempts") or {}).values()
                       for k in v), default=None)
            out.append(f"Terraform {plan} {PHASE_NAME[phase]}: {b['ec2_mutating']} mutating calls where the change needs "
                       f"{need if need is not None else '?'}, {b['throttled_total']} throttled answers"
                       + (f" (its SDK went up to attempt {att})" if att and att > 1 else "") + extra
                       + f"; wall {b['wall_s']:.1f} s = {f2(b['wall_ratio'], 1)}× the bound.")
    if res.get("startup"):
        out.append("Terraform's fixed cost per command (process, provider start, graph walk, no EC2 call): "
                   + ", ".join(f"{v:.1f} s ({k})" for k, v in res["startup"].items()) + ".")
    return out


def write_report(res, path):
    m, s = res["meta"], res["summary"]
    lines = []
    w = lines.append
    w("# sagevpc benchmark results")
    w("")
    w("Generated by `make bench` (bench/bench.py); do not edit, re-run it (or `python3 bench/bench.py --report-only` "
      "to re-render from results.json).")
    w("")
    w("## How this was produced")
    w("")
    w(f"* **Command**: `{m['command']}`; started {m['started']}, finished {m['finished']}, "
      f"**{m['bench_seconds'] / 60:.1f} min** in all.")
    w(f"* **sagevpc**: commit `{m['git_commit']}`{' (+ uncommitted changes in src/)' if m.get('git_dirty') else ''}, "
      f"{'built by the bench with `cargo build --locked`' if m.get('built') else 'binary given by BENCH_BIN'} "
      f"(debug build, sha256 `{m['binary_sha256']}`…, a private copy measured); repository HEAD `{m['git_head']}` at the start. "
      "Default flags (`--parallelism 32`, `--max-attempts 6`, the documented request buckets) plus `--stats`.")
    if m["terraform"].get("providers"):
        w(f"* **Terraform**: {m['terraform'].get('terraform')} with {', '.join(m['terraform']['providers'])}, "
          "`-parallelism=10`, local state, provider from the local plugin mirror (bench/tf_peer.py).")
    else:
        w(f"* **Terraform**: {m['terraform'].get('terraform')}.")
    w(f"* **Machine**: {m['machine']}; load average {m['loadavg_start'][0]:.2f} at the start, {m['loadavg_end'][0]:.2f} at the end.")
    w(f"* **LocalStack** {m['localstack_version']} (no Docker), a private instance on 127.0.0.1:{m['localstack_port']}, started afresh "
      "for every run (one run = one tool's cold apply, no-op plan and destroy of one plan) and warmed up with an unrecorded "
      "apply/destroy of the standard plan; LocalStack keeps deleted VPC endpoints and slows down with them.")
    pr = m["proxy"]
    w(f"* **Proxy**: bench/throttleproxy.py between each tool and LocalStack with EC2's documented default buckets, one per action "
      f"(capacity/refill per s: {pr['buckets_text']}), latency {pr['latency_ms']:g} ms per EC2 call, new endpoints reported "
      f"`pending` for {pr['endpoint_pending_s']:g} s.")
    w(f"* **Repetitions**: {m['reps']} per (plan, tool), except Terraform's large plan: {m['tf_large_reps']} "
      f"(BENCH_TF_LARGE_REPS; about 7 minutes each). Tables show the median wall (min–max) and the counts of the median run.")
    w("")
    w("Columns:")
    w("")
    w("* **ok (exit)**: runs that exited 0, and the exit codes (`plan` runs use `--detailed-exitcode`: 0 = no changes).")
    w("* **wall**: seconds around the whole process (process start, reads, lock, execution, output).")
    w("* **API calls**: every request the proxy let through (EC2 plus STS/IAM/SageMaker), total / EC2 mutating. "
      "Throttled answers are not in it.")
    w("* **throttled**: HTTP 503 RequestLimitExceeded answers the proxy gave (the client resent them).")
    w("* **bucket bound**: for each action max(0, (calls − capacity) / refill) over the calls the changeset *needs* "
      "(sagevpc's `stats: changeset needs` lines: the minimum for that change, the same for both tools), the largest, with "
      "its action. Terraform's *own* calls give a higher one where it makes more calls (shown in brackets when different).")
    w("* **chain (C/W)**: the dependency chain: C API calls and W endpoint waits on the longest chain "
      "(sagevpc's `stats: changeset … critical path C API calls and W endpoint waits` and `critical path actions`), each "
      "call at the median time the proxy measured for *that action* in sagevpc's runs of that plan and phase (LocalStack's "
      "own time plus the injected latency: a DeleteVpc takes longer than a DeleteSubnet), plus W × w, w = the waiter's "
      "first poll (0.25 s) or BENCH_ENDPOINT_PENDING_S if longer; C × t (t = the median mutating call, shown under the "
      "table) for results recorded before the chain's actions were. Same value for both tools of a plan and phase.")
    w("* **bound** = bucket bound + chain: no client can finish the change faster under these buckets. "
      "**wall/bound** uses the whole process; **execute/bound** sagevpc's `stats: phase execute` (the execution alone, "
      "without the reads, the lock and process start).")
    w("* **peak RSS**: of the sagevpc process itself (GNU time `%M`).")
    w("")
    w("## Results")
    w("")
    w("| plan | tool | phase | ok (exit) | wall s (min–max) | API calls total / mutating | throttled | bucket bound s (action) | chain s (C/W) | bound s | wall/bound | execute s | execute/bound | peak RSS MB |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in s:
        b = r.get("bound")
        rng = f" ({r['wall_min_s']:.2f}–{r['wall_max_s']:.2f})" if r["n"] > 1 else ""
        if b:
            bb = f"{b['bucket_s']:.2f} ({b['bucket_action'] or '–'})"
            if r["own_bucket_bound_s"] and r["own_bucket_bound_s"] > b["bucket_s"] + 0.01:
                bb += f" [own calls: {r['own_bucket_bound_s']:.1f} {r['own_bucket_bound_action']}]"
            bk = res["bounds"][r["plan"] + "/" + r["phase"]]
            cw = f"{f2(b['chain_s'])} ({bk['cp_calls']}/{bk['cp_waits']})"
            bt = f2(b["total_s"])
        else:
            bb = "–" if not r["own_bucket_bound_s"] else f"– [own calls: {r['own_bucket_bound_s']:.1f} {r['own_bucket_bound_action']}]"
            cw = bt = "–"
        thr = str(r["throttled_total"]) + (f" ({', '.join(f'{a} {n}' for a, n in sorted(r['throttled'].items()))})" if r["throttled"] else "")
        if r["n"] > 1 and r["throttled_total_max"] != r["throttled_total"]:
            thr += f"; max {r['throttled_total_max']}"
        w(f"| {r['plan']} | {r['tool']} | {PHASE_NAME[r['phase']]} | {r['n_ok']}/{r['n']} ({','.join(map(str, r['rcs']))}) | "
          f"{r['wall_s']:.2f}{rng} | {r['api_total']} / {r['ec2_mutating']} | {thr} | {bb} | {cw} | {bt} | {f2(r['wall_ratio'])} | "
          f"{f2(r['exec_s'])} | {f2(r['exec_ratio'])} | {f2(r['maxrss_mb'], 1)} |")
    w("")
    if res.get("bounds"):
        w("Per-call time t of the chain (median mutating EC2 call in sagevpc's runs, proxy-measured): "
          + "; ".join(f"{k.replace('/', ' ')} {v['call_s'] * 1000:.0f} ms" for k, v in res["bounds"].items() if v.get("call_s"))
          + ".")
        w("")
    if res.get("startup"):
        w("Terraform's fixed cost: `plan -refresh=false` of the empty state (no EC2 call) took "
          + ", ".join(f"{f2(v, 1)} s ({k})" for k, v in res["startup"].items()) + " (median).")
        w("")
    w("### Mutating EC2 calls by action: needed vs made")
    w("")
    w("*needed*: sagevpc's `stats: changeset needs` (the calls the change needs, the minimum); *made*: the calls the proxy let "
      "through (median run; throttled answers not counted). Actions no tool needs are the tools' own extras.")
    w("")
    for plan in res["meta"].get("plans", PLANS):
        for phase in ("apply", "destroy"):
            a, b = row(s, plan, "sagevpc", phase), row(s, plan, "terraform", phase)
            if not a and not b:
                continue
            need = (a or {}).get("needs") or {}
            acts = sorted({k for k in need} | {k for r in (a, b) if r for k in r["calls"] if tp.is_mutating(k)})
            w(f"**{plan} {PHASE_NAME[phase]}**")
            w("")
            w("| action | needed | sagevpc made | Terraform made | bucket (capacity/refill) |")
            w("|---|---|---|---|---|")
            for act in acts:
                cap, ref = tp.BucketConfig().limits(act)
                w(f"| {act} | {need.get(act, 0)} | {a['calls'].get(act, 0) if a else '–'} | {b['calls'].get(act, 0) if b else '–'} | {cap:g}/{ref:g} |")
            w(f"| **total** | **{sum(need.values())}** | **{a['ec2_mutating'] if a else '–'}** | **{b['ec2_mutating'] if b else '–'}** | |")
            w("")
    w("### sagevpc: time by phase, pacing and throttling (median run)")
    w("")
    w("`stats: phase …` lines; *paced*: `stats: paced <Action> waited <s>` (time calls waited inside the client for a token; "
      "the executor also holds a node back until its token is due, which is not counted there); *seen throttled*: "
      "`stats: throttled` (503s sagevpc received and resent); *proxy throttled*: the proxy's count, with how early each "
      "throttled call came (ms before its bucket's next token); *measured chain*: sagevpc's `stats: execute measured "
      "critical path` (its longest chain at the nodes' real durations, own token waits and resends included).")
    w("")
    names = []
    for r in s:
        for k in (r.get("sv_phases") or {}):
            if k not in names:
                names.append(k)
    w("| plan | phase | " + " | ".join(names) + " | measured chain s | paced s | seen throttled | proxy throttled (ms early) |")
    w("|---|---|" + "---|" * len(names) + "---|---|---|---|")
    for r in s:
        if r["tool"] != "sagevpc":
            continue
        ph = r["sv_phases"]
        paced = ", ".join(f"{a} {v:.2f}" for a, v in sorted(r["paced_s"].items())) or "0"
        seen = ", ".join(f"{a} {v}" for a, v in sorted(r["sv_throttled"].items())) or "0"
        early = "; ".join(f"{a}: {', '.join(f'{x:g}' for x in v)}" for a, v in sorted(r["throttled_early_ms"].items()))
        w(f"| {r['plan']} | {PHASE_NAME[r['phase']]} | " + " | ".join(f2(ph.get(n), 3) for n in names)
          + f" | {f2(r.get('measured_cp_s'), 3)} | {paced} | {seen} | {r['throttled_total']}{f' ({early})' if early else ''} |")
    w("")
    w("## Targets")
    w("")
    w("| target | measured | met |")
    w("|---|---|---|")
    for t in res["targets"]:
        w(f"| {t['target']} | {t['measured']} | {'–' if t['met'] is None else ('✅ met' if t['met'] else '❌ missed')} |")
    w("")
    obs = res.get("observations") or []
    if obs:
        w("## Observations")
        w("")
        for x in obs:
            w(f"  * {x[2:]}" if x.startswith("  ") else f"* {x}")
        w("")
    w("## Where Terraform is better")
    w("")
    tb = res.get("terraform_better") or []
    if tb:
        for x in tb:
            w(f"* {x}")
    else:
        w("* In these measurements, nowhere on wall time, API calls, mutating calls or throttled answers.")
    w("* Not measured here, but in Terraform's favour: it records what it made in its state, so a plan can be checked "
      "without reading the account by tags, and its graph covers any resource type; sagevpc only knows its own kinds.")
    w("")
    c = res.get("cfn")
    if c:
        w("## sagevpc apply vs LocalStack CloudFormation (bench/run.py, no proxy)")
        w("")
        w("Same resources as the standard plan (`bench/studio-vpc.cfn.yaml`). sagevpc: the whole process, direct to LocalStack, "
          "once with its default buckets and once with the endpoint bucket lifted (`--rate CreateVpcEndpoint=1000/1000`): "
          "LocalStack's CloudFormation calls EC2 inside the LocalStack process, unthrottled (on AWS, CloudFormation's EC2 "
          "calls count against the same account buckets). CloudFormation: from `CreateStack` until `DescribeStacks` "
          "(polled every 50 ms) shows `CREATE_COMPLETE`; engine = first to last stack event. "
          f"{c.get('reps', '?')} repetitions, each on a fresh LocalStack, order alternated; stacks deleted after each.")
        w("")
        w("| measurement | median s | runs |")
        w("|---|---|---|")
        for v in c["variants"]:
            w(f"| sagevpc apply, {v['label']} ({f2(v['calls'], 0)} API calls) | {f2(v['apply_s'])} | "
              f"{', '.join(f'{x:.2f}' for x in v['apply_runs'])} |")
        w(f"| CloudFormation CreateStack → CREATE_COMPLETE | {f2(c['cfn_deploy_s'])} | {', '.join(f'{x:.2f}' for x in c['cfn_deploy_runs'])} |")
        w(f"| CloudFormation engine (first → last stack event) | {f2(c['cfn_engine_s'])} | {', '.join(f2(x) for x in c['cfn_engine_runs'])} |")
        for v in c["variants"]:
            w(f"| sagevpc destroy, {v['label']} (for reference) | {f2(v['destroy_s'])} | |")
        w(f"| CloudFormation DeleteStack → gone (for reference) | {f2(c['cfn_delete_s'])} | |")
        w("")
        ck = c.get("cfn_check", {})
        w(f"Ratios sagevpc / CloudFormation: " + "; ".join(f"{v['label']} {f2(v['ratio'])}" for v in c["variants"])
          + f". Caveat: LocalStack's CloudFormation made {ck.get('ingress_permissions')} ingress permissions on the two groups "
          f"({ck.get('unsupported_fallbacks', 0)} `AWS::EC2::SecurityGroupIngress` resource(s) reported as an unsupported "
          "\"fallback\"), so it does slightly less work than sagevpc.")
        w("")
    lat = res.get("latency_suite")
    if lat:
        w("## Appendix: bench/run.py latency suite (BENCH_LATENCY_SUITE=1)")
        w("")
        if lat.get("report"):
            for ln in lat["report"].splitlines()[1:]:  # its own title replaced by this heading
                w(("#" + ln) if ln.startswith("#") else ln)
        else:
            w(f"Did not finish: {lat.get('error')}")
        w("")
    if res.get("notes"):
        w("## Notes")
        w("")
        for n in res["notes"]:
            w(f"* {n}")
        w("")
    w("Raw data: bench/results.json (every run and phase: the proxy's counters by action, sagevpc's --stats lines, "
      "exit codes); logs of the last runs under bench/.work/bench/ (git-ignored).")
    w("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


# ----------------------------------------------------------------------------------------


def finish(res):
    res["summary"], res["bounds"], res["startup"] = analyse(res)
    res["targets"] = targets(res)
    res["terraform_better"] = terraform_better(res)
    res["observations"] = observations(res)
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    write_report(res, os.path.join(OUT_DIR, "RESULTS.md"))


def command_line():
    keys = ("BENCH_BIN", "BENCH_BIN_COMMIT", "BENCH_REPS", "BENCH_TF_LARGE_REPS", "BENCH_LATENCY_MS", "BENCH_ENDPOINT_PENDING_S",
            "BENCH_PLANS", "BENCH_TOOLS", "BENCH_CFN", "BENCH_CFN_REPS", "BENCH_LATENCY_SUITE", "BENCH_LOCALSTACK_PORT")
    env = " ".join(f"{k}={os.environ[k]}" for k in keys if k in os.environ)
    return (env + " " if env else "") + ("make bench" if os.environ.get("MAKELEVEL") else "python3 bench/bench.py")


def prune(keep=3):
    runs = sorted(d for d in os.listdir(WORK) if re.match(r"\d{8}-\d{6}$", d))
    for d in runs[:-keep]:
        shutil.rmtree(os.path.join(WORK, d), ignore_errors=True)


def run_latency_suite(run_dir, results):
    """bench/run.py's older suite as its own process (its own private LocalStack on
    LS_PORT + 1, no CloudFormation part: that ran above); its report is appended."""
    out = os.path.join(run_dir, "latency")
    env = dict(os.environ, BENCH_BIN=rb.BIN, BENCH_BIN_COMMIT=str(results["meta"]["git_commit"]), BENCH_CFN="0",
               BENCH_LOCALSTACK="private", BENCH_LOCALSTACK_PORT=str(LS_PORT + 1), BENCH_LATENCY_OUT=out,
               BENCH_PROBE_SHARED="0",  # never touch the shared LocalStack
               BENCH_REPS=os.environ.get("BENCH_LATENCY_REPS", "3"), PYTHONDONTWRITEBYTECODE="1")
    log("latency suite: python3 bench/run.py (BENCH_LATENCY_SUITE=1)")
    r = subprocess.run([sys.executable, os.path.join(HERE, "run.py")], env=env, cwd=ROOT, timeout=3600)
    try:
        with open(os.path.join(out, "RESULTS.md")) as f:
            rep = f.read()
        with open(os.path.join(out, "results.json")) as f:
            data = json.load(f)
        return {"rc": r.returncode, "report": rep, "summary": data.get("summary"), "targets": data.get("targets")}
    except OSError as e:
        return {"rc": r.returncode, "error": str(e)}


def main() -> int:
    if "--report-only" in sys.argv:
        with open(os.path.join(OUT_DIR, "results.json")) as f:
            res = json.load(f)
        write_report(res, os.path.join(OUT_DIR, "RESULTS.md"))
        return 0
    t0 = time.monotonic()
    for k in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL")]:
        os.environ.pop(k)  # `make` exports the shared LocalStack's URL; nothing here may use it
    os.makedirs(WORK, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = os.path.join(WORK, stamp)
    os.makedirs(run_dir)
    log(f"run {stamp}: plans {PLANS}, tools {TOOLS}, {REPS} reps (Terraform large {TF_LARGE_REPS}), latency {LATENCY_MS:g} ms, "
        f"endpoint pending {PENDING_S:g} s; logs in {os.path.relpath(run_dir, ROOT)}")
    rb.TIMEOUT_S = TIMEOUT_S
    rb.build(run_dir)  # cargo build --locked unless BENCH_BIN; sets rb.BIN to a private copy
    head, _ = rb.git_info()
    cfg = tp.BucketConfig()
    res = {
        "meta": {
            "command": command_line(), "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "git_commit": rb.BUILD.get("git_commit"), "git_dirty": rb.BUILD.get("git_dirty"), "git_head": head,
            "built": rb.BUILD.get("built"), "binary_sha256": rb.BUILD.get("binary_sha256"), "machine": rb.machine(),
            "loadavg_start": os.getloadavg(), "localstack_port": LS_PORT, "reps": REPS, "tf_large_reps": TF_LARGE_REPS,
            "proxy": {"latency_ms": LATENCY_MS, "endpoint_pending_s": PENDING_S, "buckets": cfg.describe(),
                      "buckets_text": "; ".join(f"{c} {cap:g}/{ref:g}" for c, (cap, ref) in tp.CATEGORIES.items())},
            "plans": PLANS, "tools": TOOLS, "sagevpc_parallelism": rb.PARALLELISM, "terraform_parallelism": tf_peer.PARALLELISM,
        },
        "runs": [], "notes": [],
    }
    tf_large_dir = tf_large.write(os.path.join(run_dir, "tf-large-src")) if "large" in PLANS and "terraform" in TOOLS else None
    ls = px = None
    ok = True
    try:
        for rep in range(REPS):
            for plan_kind in PLANS:
                for tool in TOOLS:
                    if tool == "terraform" and plan_kind == "large" and rep >= TF_LARGE_REPS:
                        continue
                    tag = f"{plan_kind}-{tool}-{rep}"
                    d = os.path.join(run_dir, tag)
                    os.makedirs(d)
                    ls = fresh_localstack(d)
                    res["meta"].setdefault("localstack_version", ls_version(ls.url))
                    px = Proxy(ls.url, d)
                    name = f"b{stamp[-6:]}{plan_kind[0]}{tool[0]}{rep}"
                    log(f"{tag}: {tool}, {plan_kind} plan, via {px.url} -> {ls.url} (name {name})")
                    try:
                        if tool == "sagevpc":
                            plan = make_plan(plan_kind, name, os.path.join(d, "plan"))
                            if plan_kind == "large":
                                res["meta"]["large_rule_directions"] = rule_directions(plan)
                            r = run_sagevpc(plan, px.url, d)
                        else:
                            r = run_terraform(plan_kind, px.url, name, d, tf_large_dir)
                            if "terraform" not in res["meta"]:
                                res["meta"]["terraform"] = tf_versions(r["work"])
                    finally:
                        px.stop()
                        px = None
                        ls.stop()
                        ls = None
                    ok &= r["ok"]
                    res["runs"].append({"plan": plan_kind, "tool": tool, "rep": rep, "name": name, "ok": r["ok"],
                                        "phases": r["phases"], "startup": r.get("startup"), "logdir": os.path.relpath(d, ROOT)})
                    with open(os.path.join(run_dir, "results.partial.json"), "w") as f:
                        json.dump(res, f, indent=1)
        if DO_CFN:
            log(f"CloudFormation comparison ({CFN_REPS} reps)")
            bench = rb.Bench(run_dir)
            with open(rb.CFN_TEMPLATE) as f:
                template = f.read()
            inst = rb.Instances(bench, os.path.join(run_dir, "cfn"), stamp.replace("-", ""), template, mode="private",
                                port=LS_PORT, warmup_args=LIFT_ENDPOINT_BUCKET)
            os.makedirs(inst.run_dir, exist_ok=True)
            bench.run_dir = inst.run_dir
            try:
                c = rb.cfn_comparison(bench, inst, template, stamp.replace("-", ""), inst.run_dir, CFN_REPS,
                                      variants=(("default buckets", ()), ("endpoint bucket lifted", LIFT_ENDPOINT_BUCKET)))
                runs = c.pop("runs")
                c["runs"] = [{k: v for k, v in r.items() if k != "stderr"} for r in runs]
                c["reps"] = CFN_REPS
                ok &= all(r["ok"] for r in runs)
                res["cfn"] = c
            finally:
                bench.cleanup()
                inst.stop()
        if LATENCY_SUITE:
            res["latency_suite"] = run_latency_suite(run_dir, res)
            ok &= res["latency_suite"].get("rc") == 0
    finally:
        if px:
            px.stop()
        if ls:
            ls.stop()
        if rb.BIN.startswith(run_dir) and os.path.exists(rb.BIN):
            os.remove(rb.BIN)  # ~90 MB; the logs stay
        for r in res["runs"]:  # the instances' file systems are not needed any more
            shutil.rmtree(os.path.join(ROOT, r["logdir"], "localstack"), ignore_errors=True)
        shutil.rmtree(os.path.join(run_dir, "cfn", "localstack"), ignore_errors=True)
        prune()
    res["meta"]["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    res["meta"]["loadavg_end"] = os.getloadavg()
    res["meta"]["bench_seconds"] = time.monotonic() - t0
    res["meta"].setdefault("terraform", {"terraform": "not run", "providers": []})
    res["meta"].setdefault("localstack_version", "?")
    for r in res["runs"]:
        for p in r["phases"]:
            if not p["ok"]:
                res["notes"].append(f"{r['plan']} {r['tool']} rep {r['rep']} {p['phase']} exited {p['rc']} (log {p.get('log')}).")
            if p["phase"] == "cleanup-destroy":
                res["notes"].append(f"{r['plan']} {r['tool']} rep {r['rep']}: destroy needed a cleanup run without throttling.")
    finish(res)
    log(f"wrote {os.path.relpath(OUT_DIR, ROOT) or '.'}/RESULTS.md and results.json in {res['meta']['bench_seconds'] / 60:.1f} min")
    for t in res["targets"]:
        log(f"{'info  ' if t['met'] is None else ('MET   ' if t['met'] else 'MISSED')} {t['target']}: {t['measured']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
