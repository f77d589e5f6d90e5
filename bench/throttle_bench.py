#!/usr/bin/env python3
"""sagevpc vs Terraform under EC2's request throttling (stdlib only).

For each plan (standard = plans/studio-vpc.toml / bench/terraform/standard, large =
bench/gen_large_plan.py / bench/tf_large.py), each mode (throttled = bench/throttleproxy.py
with EC2's default buckets, unthrottled = the same proxy with --no-throttle, counting only)
and each tool, runs a cold apply, a no-op plan and a destroy, each timed around the whole
process, with the proxy's counters reset before each phase and read after.

  sagevpc:   BIN --endpoint-url PROXY apply PLAN --auto-approve --stats
             BIN --endpoint-url PROXY plan PLAN --stats --detailed-exitcode
             BIN --endpoint-url PROXY destroy PLAN --auto-approve --stats
  terraform: bench/tf_peer.py (apply -auto-approve / plan -detailed-exitcode / destroy,
             -parallelism=10)

A private LocalStack (never the shared one on 4566) is started on --ls-port and, by
default, restarted before every (plan, mode, tool) run and warmed up with one unrecorded
sagevpc apply/destroy of the standard plan straight to LocalStack, because LocalStack keeps
deleted VPC endpoints and slows down with them. sagevpc's binary is copied first (the
shared target dir may be rebuilt under us). A failed apply is followed by plan and destroy
anyway; a failed destroy by a cleanup destroy with throttling off.

Usage: throttle_bench.py [--plans standard,large] [--modes throttled,unthrottled]
                         [--tools sagevpc,terraform] [--reps 1] [--ls-port 4611]
                         [--proxy-port 4621] [--bin PATH] [--pending-s 0] [--latency-ms 0]
Writes bench/.work/throttle/results.json and RESULTS.md (git-ignored).
       throttle_bench.py --report RESULTS.json...   one summary table over several files
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import tf_large  # noqa: E402
import tf_peer  # noqa: E402
import throttleproxy  # noqa: E402

WORK = os.path.join(HERE, ".work", "throttle")
LS_PY = os.path.join(ROOT, "localstack", ".venv", "bin", "python")
STD_PLAN = os.path.join(ROOT, "plans", "studio-vpc.toml")
POLICIES = os.path.join(ROOT, "plans", "policies")
POLICY = os.path.join(POLICIES, "s3-deny-amazon-linux-repos.json")
TF_STD = os.path.join(HERE, "terraform", "standard")
TIMEOUT_S = 1200


def log(msg):
    print(f"[throttle-bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def health_ok(url):
    try:
        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=3) as r:
            return r.status == 200
    except OSError:
        return False


class LocalStack:
    """A private LocalStack (same settings as localstack/up.sh) on its own port and root."""

    def __init__(self, port: int, workdir: str):
        if port == 4566:
            raise SystemExit("refusing to use port 4566 (the shared LocalStack)")
        self.url = f"http://127.0.0.1:{port}"
        if health_ok(self.url):
            raise SystemExit(f"a LocalStack already answers on {self.url}; pick another --ls-port")
        d = os.path.join(workdir, "localstack")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        env = dict(
            os.environ, GATEWAY_LISTEN=f"127.0.0.1:{port}", FILESYSTEM_ROOT=os.path.join(d, "fs"),
            CLEAR_TMP_FOLDER="0", DNS_ADDRESS="0", SKIP_SSL_CERT_DOWNLOAD="1", DISABLE_EVENTS="1",
            LOCALSTACK_TELEMETRY_DISABLED="1", SERVICES="ec2,sts,iam,s3,cloudformation,logs",
            EAGER_SERVICE_LOADING="0", PERSISTENCE="0", LS_LOG="warn",
        )
        self.logf = open(os.path.join(d, "localstack.log"), "w")
        t0 = time.monotonic()
        self.p = subprocess.Popen([LS_PY, "-m", "localstack.runtime.main"], cwd=d, env=env,
                                  stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        while not health_ok(self.url):
            if self.p.poll() is not None:
                raise SystemExit(f"LocalStack exited during start-up; see {self.logf.name}")
            if time.monotonic() - t0 > 120:
                self.stop()
                raise SystemExit("LocalStack did not become healthy within 120 s")
            time.sleep(0.25)
        log(f"LocalStack pid {self.p.pid} healthy on {self.url} after {time.monotonic() - t0:.1f}s")

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.logf.close()


class Proxy:
    def __init__(self, upstream: str, port: int, throttled: bool, logdir: str, pending_s=0.0, latency_ms=0.0):
        args = [sys.executable, os.path.join(HERE, "throttleproxy.py"), "--upstream", upstream, "--port", str(port),
                "--endpoint-pending-s", str(pending_s), "--latency-ms", str(latency_ms)]
        if not throttled:
            args.append("--no-throttle")
        self.err = open(os.path.join(logdir, "proxy.stderr"), "a")
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.err, stdin=subprocess.DEVNULL, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("LISTENING"):
            raise SystemExit(f"proxy did not start: {line!r}")
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


# ----------------------------------------------------------------------------------------
# sagevpc


def sv_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1",
               AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", NO_COLOR="1")
    return env


def parse_sv_stats(stderr: str) -> dict:
    s = {"calls_total": None, "calls_mutating": None, "calls_by_op": {}, "phases": {}}
    for line in stderr.splitlines():
        if m := re.match(r"stats: (\d+) API calls \((\d+) mutating\)", line):
            s["calls_total"], s["calls_mutating"] = int(m.group(1)), int(m.group(2))
        elif m := re.match(r"stats:   (\S+)\s+(\d+)$", line):
            s["calls_by_op"][m.group(1)] = int(m.group(2))
        elif m := re.match(r"stats: phase (\S+)\s+([\d.]+)s", line):
            s["phases"][m.group(1)] = float(m.group(2))
    return s


def sv_phase(bin_path, phase, plan, proxy_url, logprefix):
    cmd = {
        "apply": ["apply", plan, "--auto-approve", "--stats"],
        "plan": ["plan", plan, "--stats", "--detailed-exitcode"],
        "destroy": ["destroy", plan, "--auto-approve", "--stats"],
    }[phase]
    tf_peer.proxy_reset(proxy_url)
    t0 = time.monotonic()
    try:
        r = subprocess.run([bin_path, "--endpoint-url", proxy_url, *cmd], env=sv_env(), capture_output=True,
                           text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
        rc, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired:
        rc, out, err = -1, "", f"timeout after {TIMEOUT_S}s"
    wall = time.monotonic() - t0
    with open(logprefix + ".stdout", "w") as f:
        f.write(out)
    with open(logprefix + ".stderr", "w") as f:
        f.write(err)
    res = {"tool": "sagevpc", "phase": phase, "rc": rc, "ok": rc == 0, "wall_s": round(wall, 3),
           **tf_peer.summarize_stats(tf_peer.proxy_stats(proxy_url)), "sagevpc_stats": parse_sv_stats(err)}
    if rc != 0:
        errs = [ln for ln in err.splitlines() if not ln.startswith("stats:")]
        res["stderr_tail"] = "\n".join(errs[-25:])
    return res


def run_sagevpc(bin_path, plan, proxy_url, logdir):
    phases = []
    for phase in ("apply", "plan", "destroy"):
        log(f"  sagevpc {phase}")
        r = sv_phase(bin_path, phase, plan, proxy_url, os.path.join(logdir, f"sagevpc-{phase}"))
        phases.append(r)
        log(f"  sagevpc {phase} rc={r['rc']} {r['wall_s']}s ec2={r['ec2_total']} throttled={r['throttled_total']}")
    if not phases[-1]["ok"]:
        log("  sagevpc destroy failed: cleanup destroy without throttling")
        tf_peer.proxy_call(proxy_url, "/_proxy/throttle?on=0", "POST")
        c = sv_phase(bin_path, "destroy", plan, proxy_url, os.path.join(logdir, "sagevpc-cleanup-destroy"))
        c["phase"] = "cleanup-destroy"
        phases.append(c)
    return {"phases": phases, "ok": all(p["ok"] for p in phases[:3])}


def make_plan(kind, name, d):
    os.makedirs(d, exist_ok=True)
    shutil.copytree(POLICIES, os.path.join(d, "policies"), dirs_exist_ok=True)
    if kind == "standard":
        text = open(STD_PLAN).read()
        text, n = re.subn(r'(?m)^name\s*=\s*"[^"]*"', f'name = "{name}"', text, count=1)
        assert n == 1
        path = os.path.join(d, "studio-vpc.toml")
        with open(path, "w") as f:
            f.write(text)
        return path
    path = os.path.join(d, "large.toml")
    subprocess.run([sys.executable, os.path.join(HERE, "gen_large_plan.py"), "--name", name, "--out", path], check=True)
    return path


def warm_up(bin_path, ls_url, d):
    """One unrecorded sagevpc apply/destroy of the standard plan straight to LocalStack, and
    an STS and IAM call (Terraform's account lookup), so lazy service loading is not timed."""
    plan = make_plan("standard", f"warm{int(time.time())}", d)
    for cmd in (["apply", plan, "--auto-approve"], ["destroy", plan, "--auto-approve"]):
        r = subprocess.run([bin_path, "--endpoint-url", ls_url, *cmd], env=sv_env(), capture_output=True, text=True,
                           timeout=600)
        if r.returncode != 0:
            raise SystemExit(f"warm-up {cmd[0]} failed:\n{r.stderr[-3000:]}")
    sys.path.insert(0, HERE)
    import run  # bench/run.py: SigV4 query helper

    for svc, params, ver in (("sts", {"Action": "GetCallerIdentity"}, "2011-06-15"),
                             ("iam", {"Action": "GetUser"}, "2010-05-08")):
        run.aws_query(svc, params, ver, url=ls_url)


# ----------------------------------------------------------------------------------------


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


MUTATING_ORDER = None


def table(results) -> str:
    rows = ["| plan | mode | tool | phase | ok (rc) | wall s | EC2 calls total / mutating | throttled answers | bucket bound s (bucket) | EC2 mutating calls by action |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for run_ in results["runs"]:
        for p in run_["phases"]:
            mut = ", ".join(f"{a} {n}" for a, n in sorted(p["calls"].items()) if throttleproxy.is_mutating(a))
            thr = ", ".join(f"{a} {n}" for a, n in sorted(p["throttled"].items())) or "0"
            if p["throttled_total"]:
                thr = f"{p['throttled_total']}: {thr}"
            bound = f"{p['bucket_bound_s']:.1f} ({p['bucket_bound_action']})" if p["bucket_bound_action"] else "0"
            rows.append(f"| {run_['plan']} | {run_['mode']} | {run_['tool']} | {p['phase']} | {'yes' if p['ok'] else 'NO'} ({p['rc']}) "
                        f"| {p['wall_s']:.1f} | {p['ec2_total']} / {p['ec2_mutating']} | {thr} | {bound} | {mut or '-'} |")
    return "\n".join(rows)


def summary(files) -> str:
    """One row per (plan, mode, tool, phase) over every rep of the given results files:
    wall median (min-max), and the counts of the rep whose wall is the median."""
    import statistics

    groups: dict = {}
    for fn in files:
        with open(fn) as f:
            res = json.load(f)
        for r in res["runs"]:
            for p in r["phases"] + ([r["startup"]] if r.get("startup") else []):
                groups.setdefault((r["plan"], r["mode"], r["tool"], p["phase"]), []).append(p)
    order = {"startup": 0, "apply": 1, "plan": 2, "destroy": 3, "cleanup-destroy": 4}
    rows = ["| plan | mode | tool | phase | ok | wall s median (min-max) | EC2 calls total / mutating | throttled answers | bucket bound s | EC2 mutating calls by action |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(groups, key=lambda k: (k[0] != "standard", k[1] != "throttled", k[2], order.get(k[3], 9))):
        ps = sorted(groups[key], key=lambda p: p["wall_s"])
        med = ps[len(ps) // 2]
        walls = [p["wall_s"] for p in ps]
        ok = sum(p["ok"] for p in ps)
        wall = f"{statistics.median(walls):.1f}" + (f" ({walls[0]:.1f}-{walls[-1]:.1f})" if len(ps) > 1 else "")
        thr = f"{med['throttled_total']}" + (" (" + ", ".join(f"{a} {n}" for a, n in sorted(med["throttled"].items())) + ")" if med["throttled"] else "")
        bound = f"{med['bucket_bound_s']:.1f} ({med['bucket_bound_action']})" if med["bucket_bound_action"] else "0"
        mut = ", ".join(f"{a} {n}" for a, n in sorted(med["calls"].items()) if throttleproxy.is_mutating(a)) or "-"
        rows.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {ok}/{len(ps)} | {wall} | {med['ec2_total']} / {med['ec2_mutating']} "
                    f"| {thr} | {bound} | {mut} |")
    return "\n".join(rows)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--report":
        print(summary(sys.argv[2:]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plans", default="standard,large")
    ap.add_argument("--modes", default="throttled,unthrottled")
    ap.add_argument("--tools", default="sagevpc,terraform")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--ls-port", type=int, default=4611)
    ap.add_argument("--proxy-port", type=int, default=0)
    ap.add_argument("--bin", default=None, help="sagevpc binary (default: a copy of target/debug/sagevpc)")
    ap.add_argument("--pending-s", type=float, default=0.0, help="proxy --endpoint-pending-s")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="proxy --latency-ms")
    ap.add_argument("--no-fresh", action="store_true", help="one LocalStack for all runs (no restarts)")
    ap.add_argument("--out", default=os.path.join(WORK, "results.json"))
    a = ap.parse_args()
    os.makedirs(WORK, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rundir = os.path.join(WORK, stamp)
    os.makedirs(rundir)
    src = a.bin or os.path.join(ROOT, "target", "debug", "sagevpc")
    bin_path = os.path.join(rundir, "sagevpc")
    shutil.copy2(src, bin_path)
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    results = {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "sagevpc_binary_sha256": sha256(bin_path), "git_head": head,
        "terraform": subprocess.run(["terraform", "version"], capture_output=True, text=True,
                                    env=tf_peer.tf_env(rundir)).stdout.splitlines()[:2],
        "proxy": {"pending_s": a.pending_s, "latency_ms": a.latency_ms,
                  "buckets": throttleproxy.BucketConfig().describe()},
        "runs": [],
    }
    tf_large_dir = tf_large.write(os.path.join(rundir, "tf-large-src"))
    ls = None
    try:
        for plan_kind in a.plans.split(","):
            for mode in a.modes.split(","):
                for tool in a.tools.split(","):
                    for rep in range(a.reps):
                        tag = f"{plan_kind}-{mode}-{tool}-{rep}"
                        d = os.path.join(rundir, tag)
                        os.makedirs(d)
                        if ls is None or not a.no_fresh:
                            if ls:
                                ls.stop()
                            ls = LocalStack(a.ls_port, d)
                            warm_up(bin_path, ls.url, os.path.join(d, "warmup"))
                        px = Proxy(ls.url, a.proxy_port, mode == "throttled", d, a.pending_s, a.latency_ms)
                        name = f"tb{stamp[-6:]}{plan_kind[0]}{mode[0]}{tool[0]}{rep}"
                        log(f"{tag}: {tool} {plan_kind} {mode} via {px.url} (name {name})")
                        try:
                            if tool == "sagevpc":
                                plan = make_plan(plan_kind, name, os.path.join(d, "plan"))
                                r = run_sagevpc(bin_path, plan, px.url, d)
                            else:
                                tf_dir = TF_STD if plan_kind == "standard" else tf_large_dir
                                r = tf_peer.run_peer(tf_dir, px.url, name, work=os.path.join(d, "tf"), policy_file=POLICY,
                                                     timeout_s=TIMEOUT_S, startup_probe=True)
                        finally:
                            px.stop()
                        results["runs"].append({"plan": plan_kind, "mode": mode, "tool": tool, "rep": rep, "name": name,
                                                "ok": r["ok"], "phases": r["phases"], "startup": r.get("startup"),
                                                "logdir": os.path.relpath(d, ROOT)})
                        with open(a.out, "w") as f:
                            json.dump(results, f, indent=1)
    finally:
        if ls:
            ls.stop()
    results["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)
    md = os.path.join(os.path.dirname(a.out), "RESULTS.md")
    with open(md, "w") as f:
        f.write(f"# sagevpc vs Terraform under EC2 request throttling\n\n{results['started']} - {results['finished']}; "
                f"sagevpc {results['sagevpc_binary_sha256'][:16]} (HEAD {head}); {' '.join(results['terraform'])}\n\n")
        f.write(table(results) + "\n")
    log(f"wrote {a.out} and {md}")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
