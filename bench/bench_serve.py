"""Query latency of `l2v search` on the CLI: loading the encoder each time vs asking a warm `l2v serve`.

    python bench/bench_serve.py [--docs 3] [--queries 10] [--encoder DIR]

Indexes the first N bundled PEPs with the default encoder into a temporary database, then times
whole CLI processes (what a user waits for): `l2v search DB Q` (cold: loads the 135M encoder) and
`l2v search DB Q --server URL` against `l2v serve DB` started once. Reports p50/p90 wall seconds and
the server-side milliseconds. Results: bench/results/serve-latency.json (machine and load recorded).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUERIES = ["walrus operator assignment expression", "underscores in numeric literals", "the zen of python",
           "generators and yield", "docstring conventions", "how do I name a private method",
           "what does the := operator do", "thousands separators in numbers", "explicit is better than implicit",
           "one-line docstrings"]
CLI = [sys.executable, "-c", "import sys; from search_ui.l2v import main; sys.argv = ['l2v'] + sys.argv[1:]; main()"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout


def main() -> None:
    from indexer.defaults import sample_docs_path
    from search_ui.testing import free_port

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=3)
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--cold", type=int, default=3, help="cold CLI searches (each loads the encoder)")
    parser.add_argument("--encoder", default=None)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="l2v-serve-") as tmp:
        docs, db = Path(tmp) / "docs", Path(tmp) / "db"
        docs.mkdir()
        for path in sorted(sample_docs_path().glob("*.rst"))[:args.docs]:
            shutil.copy(path, docs / path.name)
        subprocess.run(CLI + ["index", str(docs), "--db", str(db)] + (["--encoder", args.encoder] if args.encoder else []),
                       check=True, capture_output=True)
        queries = (QUERIES * 10)[:args.queries]
        cold = [timed(CLI + ["search", str(db), q, "-k", "5"])[0] for q in queries[:args.cold]]
        port = free_port()
        server = subprocess.Popen(CLI + ["serve", str(db), "--port", str(port)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 300
            while time.time() < deadline:
                try:
                    urllib.request.urlopen(url + "/health", timeout=2)
                    break
                except OSError:
                    time.sleep(0.2)
            warm, server_ms = [], []
            for q in queries:
                seconds, out = timed(CLI + ["search", str(db), q, "-k", "5", "--server", url, "--json"])
                warm.append(seconds)
                body = json.dumps({"query": q, "k": 5}).encode()
                with urllib.request.urlopen(urllib.request.Request(url + "/search", data=body, method="POST")) as r:
                    server_ms.append(json.loads(r.read())["ms"])
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait()
    result = {"machine": {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                          "load_before": load_before, "load_after": os.getloadavg()[0]},
              "docs": args.docs, "encoder": args.encoder or "default (l2v-smollm2)",
              "cold_cli_s": {"p50": round(statistics.median(cold), 2), "max": round(max(cold), 2), "n": len(cold)},
              "warm_cli_s": {"p50": round(statistics.median(warm), 2), "p90": round(percentile(warm, 0.9), 2),
                             "n": len(warm)},
              "server_ms": {"p50": round(statistics.median(server_ms), 1), "p90": round(percentile(server_ms, 0.9), 1)}}
    out = REPO / "bench" / "results" / "serve-latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
