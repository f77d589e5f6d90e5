#!/usr/bin/env python3
"""Run Terraform as a benchmark peer of sagevpc, through bench/throttleproxy.py (stdlib only).

run_peer(tf_dir, proxy_url, name) copies the *.tf files of tf_dir into a work directory
(state stays out of the repo), runs `terraform init` once (offline, from /opt/tf-plugins),
then, each timed (wall, around the whole terraform process) with the proxy's counters
reset before and read after:

  apply    terraform apply -auto-approve -parallelism=10          (cold: nothing exists)
  plan     terraform plan -detailed-exitcode -parallelism=10      (must exit 0: no changes)
  destroy  terraform destroy -auto-approve -parallelism=10

Each phase records its exit code, wall seconds, the proxy's EC2 calls by action, mutating
total, throttled answers by action, SDK attempt numbers, the bucket bound of the admitted
calls, pass-through calls (STS/IAM), and the stderr tail on failure. If apply or plan
fails, destroy still runs; if destroy fails, it is retried with the proxy's throttling
switched off (POST /_proxy/throttle?on=0), so nothing is left behind in LocalStack.

Nothing here talks to anything but the proxy on 127.0.0.1 (Terraform's checkpoint call is
disabled; the provider comes from the local plugin directory).

CLI: tf_peer.py TF_DIR PROXY_URL [--name N] [--work DIR] [--policy FILE] [--json OUT]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN_DIR = os.environ.get("TF_PLUGIN_DIR", "/opt/tf-plugins")
DEFAULT_POLICY = os.path.normpath(os.path.join(HERE, "..", "plans", "policies", "s3-deny-amazon-linux-repos.json"))
PARALLELISM = 10  # Terraform's default -parallelism, stated explicitly
CLI_CONFIG = """# written by bench/tf_peer.py: providers only from the local mirror, no network
provider_installation {
  filesystem_mirror {
    path    = "%s"
    include = ["registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
disable_checkpoint = true
"""


def _log(msg):
    print(f"[tf_peer {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def proxy_call(proxy_url: str, path: str, method: str = "GET", timeout: float = 10) -> dict:
    req = urllib.request.Request(proxy_url.rstrip("/") + path, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read().decode())


def proxy_reset(proxy_url: str) -> None:
    proxy_call(proxy_url, "/_proxy/reset", "POST")


def proxy_stats(proxy_url: str) -> dict:
    return proxy_call(proxy_url, "/_proxy/stats")


def summarize_stats(s: dict) -> dict:
    """The parts of the proxy's stats a run records."""
    e = s["ec2"]
    return {
        "ec2_total": e["total"],
        "ec2_mutating": e["mutating"],
        "calls": e["calls"],
        "calls_by_bucket": e["calls_by_bucket"],
        "throttled": e["throttled"],
        "throttled_total": e["throttled_total"],
        "upstream_errors": e["upstream_errors"],
        "attempts": e.get("attempts", {}),
        "client_max_attempts": e.get("client_max_attempts", {}),
        "gave_up": e.get("gave_up", {}),
        "call_ms": e.get("call_ms", {}),
        "mutating_call_ms": e.get("mutating_call_ms", {}),
        "throttled_early_ms": e.get("throttled_early_ms", {}),
        "passthrough": s["passthrough"],
        "bucket_bound_s": s["bucket_bound"]["bound_s"],
        "bucket_bound_action": s["bucket_bound"]["action"],
        "throttling": s["throttling"],
        "pending_rewrites": s.get("pending_rewrites", 0),
    }


def tf_env(work: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_VAR_", "TF_LOG"))}
    rc = os.path.join(work, ".terraformrc")
    if not os.path.exists(rc):
        with open(rc, "w") as f:
            f.write(CLI_CONFIG % PLUGIN_DIR)
    env.update(
        TF_CLI_CONFIG_FILE=rc,
        CHECKPOINT_DISABLE="1",
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        AWS_EC2_METADATA_DISABLED="true",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(k, None)
    return env


def prepare(tf_dir: str, work: str | None = None) -> str:
    """Copy tf_dir's *.tf into `work` (a new temp dir by default) and `terraform init` it
    once (skipped when already initialised)."""
    work = work or tempfile.mkdtemp(prefix="tf-peer-")
    os.makedirs(work, exist_ok=True)
    for f in glob.glob(os.path.join(tf_dir, "*.tf")):
        shutil.copyfile(f, os.path.join(work, os.path.basename(f)))
    if not os.path.isdir(os.path.join(work, ".terraform", "providers")):
        r = subprocess.run(
            ["terraform", "init", f"-plugin-dir={PLUGIN_DIR}", "-input=false", "-no-color"],
            cwd=work, env=tf_env(work), capture_output=True, text=True, timeout=300,
        )
        if r.returncode != 0:
            raise RuntimeError(f"terraform init failed in {work}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return work


def _tail(text: str, n: int = 40) -> str:
    return "\n".join(text.splitlines()[-n:])


def run_phase(phase: str, work: str, proxy_url: str, tf_vars: dict, timeout_s: float = 1800,
              log_name: str | None = None) -> dict:
    """One timed terraform command through the proxy (its counters reset first)."""
    cmd = {
        "apply": ["apply", "-auto-approve"],
        "plan": ["plan", "-detailed-exitcode"],
        "destroy": ["destroy", "-auto-approve"],
        # Terraform's fixed cost: process + provider start-up and the graph walk of a plan
        # of everything-to-create, with no EC2 call (empty state, no refresh). Exit 2.
        "startup": ["plan", "-refresh=false", "-detailed-exitcode"],
    }[phase]
    args = ["terraform", *cmd, "-input=false", "-no-color", f"-parallelism={PARALLELISM}"]
    for k, v in tf_vars.items():
        args.append(f"-var={k}={v}")
    proxy_reset(proxy_url)
    t0 = time.monotonic()
    try:
        r = subprocess.run(args, cwd=work, env=tf_env(work), capture_output=True, text=True, timeout=timeout_s)
        rc, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = -1, (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), f"timeout after {timeout_s}s"
    wall = time.monotonic() - t0
    stats = summarize_stats(proxy_stats(proxy_url))
    ok = rc == 0 or (phase == "startup" and rc == 2)
    res = {"tool": "terraform", "phase": phase, "rc": rc, "ok": ok, "wall_s": round(wall, 3), **stats}
    with open(os.path.join(work, f"{log_name or phase}.log"), "w") as f:
        f.write(out + "\n--- stderr ---\n" + err)
    if not ok:
        res["stderr_tail"] = _tail(err) or _tail(out)
    elif phase == "plan":
        res["stdout_tail"] = _tail(out, 3)
    return res


def run_peer(tf_dir: str, proxy_url: str, name: str, work: str | None = None,
             policy_file: str = DEFAULT_POLICY, timeout_s: float = 1800, startup_probe: bool = False) -> dict:
    """init (once), cold apply, no-op plan, destroy; see the module docstring. With
    startup_probe, first a `plan -refresh=false` of the empty state (out["startup"])."""
    work = prepare(tf_dir, work)
    tf_vars = {"endpoint": proxy_url.rstrip("/"), "name": name, "policy_file": os.path.abspath(policy_file)}
    out = {"tf_dir": tf_dir, "work": work, "name": name, "phases": []}
    if startup_probe:
        out["startup"] = run_phase("startup", work, proxy_url, tf_vars, timeout_s)
        _log(f"{name}: startup probe {out['startup']['wall_s']}s ec2={out['startup']['ec2_total']}")
    applied = False
    try:
        for phase in ("apply", "plan"):
            _log(f"{name}: {phase}")
            r = run_phase(phase, work, proxy_url, tf_vars, timeout_s)
            out["phases"].append(r)
            applied = True  # even a failed apply may have created resources
            _log(f"{name}: {phase} rc={r['rc']} {r['wall_s']}s ec2={r['ec2_total']} throttled={r['throttled_total']}")
            if not r["ok"]:
                break
    finally:
        if applied:
            _log(f"{name}: destroy")
            r = run_phase("destroy", work, proxy_url, tf_vars, timeout_s)
            out["phases"].append(r)
            _log(f"{name}: destroy rc={r['rc']} {r['wall_s']}s ec2={r['ec2_total']} throttled={r['throttled_total']}")
            if not r["ok"]:
                _log(f"{name}: destroy failed; cleanup destroy without throttling")
                proxy_call(proxy_url, "/_proxy/throttle?on=0", "POST")
                try:
                    c = run_phase("destroy", work, proxy_url, tf_vars, timeout_s, log_name="cleanup-destroy")
                    c["phase"] = "cleanup-destroy"
                    out["phases"].append(c)
                finally:
                    if r["throttling"]:
                        proxy_call(proxy_url, "/_proxy/throttle?on=1", "POST")
    out["ok"] = all(p["ok"] for p in out["phases"] if p["phase"] != "cleanup-destroy") and len(out["phases"]) >= 3
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tf_dir")
    p.add_argument("proxy_url")
    p.add_argument("--name", default=f"tfpeer-{int(time.time())}")
    p.add_argument("--work", default=None, help="work directory (default: a new temp dir)")
    p.add_argument("--policy", default=DEFAULT_POLICY)
    p.add_argument("--json", default=None, help="write the result here (default: stdout)")
    a = p.parse_args()
    res = run_peer(a.tf_dir, a.proxy_url, a.name, a.work, a.policy)
    text = json.dumps(res, indent=1)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text)
    else:
        print(text)
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
