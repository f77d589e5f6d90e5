#!/usr/bin/env python3
"""Regenerate the README's transcripts from real runs (`make readme-transcripts`).

Against the LocalStack that `make localstack-up` starts: a copy of
plans/studio-vpc.toml named `readme` is planned, applied and destroyed with the binary
in target/debug, and what it printed replaces the README's blocks between
`<!-- transcript:NAME -->` and `<!-- /transcript:NAME -->`. tests/localstack_cli.rs
checks that the README still shows what the binary prints (ids and timings aside).
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "debug" / "sagevpc"
ENV = dict(
    os.environ,
    AWS_ENDPOINT_URL="http://127.0.0.1:4566",
    AWS_ACCESS_KEY_ID="test",
    AWS_SECRET_ACCESS_KEY="test",
    NO_COLOR="1",
)


def run(*args):
    p = subprocess.run([str(BIN), *args], env=ENV, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if p.returncode not in (0, 2):
        sys.exit(f"sagevpc {' '.join(args)} exited {p.returncode}:\n{p.stderr}")
    return p.stdout


def without_warnings(text):
    """The transcript without warnings about the rest of the account (another plan's VPC
    with the same CIDR, e.g. `make demo`'s): they are not part of this plan's story."""
    return "".join(l for l in text.splitlines(keepends=True) if not l.startswith("Warning:"))


def splice(text, name, body):
    pat = re.compile(rf"(<!-- transcript:{name} -->\n```\n).*?(```\n<!-- /transcript:{name} -->)", re.S)
    if not pat.search(text):
        sys.exit(f"README.md has no transcript:{name} block")
    return pat.sub(lambda m: m.group(1) + body + m.group(2), text)


def main():
    with tempfile.TemporaryDirectory() as d:
        d = pathlib.Path(d)
        shutil.copytree(ROOT / "plans" / "policies", d / "policies")
        plan = d / "studio-vpc.toml"
        text = (ROOT / "plans" / "studio-vpc.toml").read_text()
        plan.write_text(re.sub(r'(?m)^name = "[^"]*"', 'name = "readme"', text, count=1))
        run("destroy", str(plan), "--auto-approve")
        planned = run("plan", str(plan))
        applied = run("apply", str(plan), "--auto-approve")
        run("destroy", str(plan), "--auto-approve")
    readme = ROOT / "README.md"
    out = splice(readme.read_text(), "plan", without_warnings(planned))
    out = splice(out, "apply", without_warnings(applied))
    readme.write_text(out)
    print("README.md transcripts regenerated")


if __name__ == "__main__":
    main()
