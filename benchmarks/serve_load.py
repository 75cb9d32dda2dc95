"""The served face_generator under bounded load and hostile bodies: `python commands.py serve` (or, with
--server mlflow, `mlflow models serve`) on 127.0.0.1, N clients each sending M requests, then one of each hostile
body; latency, the server's memory before and after, errors.

    python benchmarks/serve_load.py [--server face_vae|mlflow] [--model-uri models:/face_vae/1] [--clients 8]
                                    [--requests 20] [--n 4] [--tiny]

Without --model-uri a tiny VAE is saved, logged and registered in a scratch store first (speed and memory then
describe the server, not a 150 px decoder). Every request goes to the loopback address only; the loop is bounded.
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from benchmarks.common import add_tiny, machine_header  # noqa: E402

HOSTILE = {
    "10 MB body": b'{"dataframe_records": [{"n": 1, "attributes": "' + b"x" * 10_000_000 + b'"}]}',
    "JSON nested 100,000 deep": b'{"dataframe_records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "n as text": b'{"dataframe_records": [{"n": "4"}]}',
    "n as 1.5": b'{"dataframe_records": [{"n": 1.5}]}',
    "n as true": b'{"dataframe_records": [{"n": true}]}',
    "n = 10**12": b'{"dataframe_records": [{"n": 1000000000000}]}',
    "seed -1": b'{"dataframe_records": [{"n": 1, "seed": -1}]}',
    "seed 2**63": b'{"dataframe_records": [{"n": 1, "seed": 9223372036854775808}]}',
    "unknown attribute": b'{"dataframe_records": [{"n": 1, "attributes": "{\\"Wings\\": 1}"}]}',
    "NaN strength": b'{"dataframe_records": [{"n": 1, "attributes": "{\\"Smiling\\": NaN}"}]}',
    "not JSON": b"not json",
}


def post(url: str, body: bytes) -> tuple[int, str, float]:
    """(status, the start of the answer, seconds)."""
    start = time.perf_counter()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, answer.read(200).decode(errors="replace"), time.perf_counter() - start
    except urllib.error.HTTPError as error:
        return error.code, error.read(300).decode(errors="replace"), time.perf_counter() - start
    except OSError as error:
        return -1, str(error), time.perf_counter() - start


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the scoring server runs uvicorn workers), in MB."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = (proc / "status").read_text()
            parent = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
            if int(proc.name) == pid or parent == pid:
                total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
        except (OSError, StopIteration, ValueError):
            continue
    return total / 1024


def tiny_registered_model(folder: Path) -> str:
    """A tiny VAE logged and registered in a scratch store; its models:/ URI."""
    import mlflow

    from face_vae.core.models.model_file import save_model
    from face_vae.core.models.nets.resnet import VAE
    from face_vae.serving.face_generator import log_face_generator

    save_model(VAE(32, [8, 16], 4), folder / "vae.pt")
    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
    mlflow.set_registry_uri(f"sqlite:///{folder}/mlflow.db")  # not a registry an earlier call in this process named
    mlflow.set_experiment("serve_load")
    with mlflow.start_run():
        uri = log_face_generator(folder / "vae.pt")
    mlflow.register_model(uri, "serve_load")
    return "models:/serve_load/1"


def print_hostile_answers(url: str) -> None:
    """Send each hostile body once; a table of what the server answered."""
    print("\n| body | status | answer (start) |\n| --- | --- | --- |")
    for name, hostile in HOSTILE.items():
        status, text, _ = post(url, hostile)
        print(f"| {name} | {status} | {text[:120].replace('|', '/')!r} |")


def server_command(server: str, uri: str, tracking_uri: str, port: int) -> list[str]:
    """The command line that serves `uri` on 127.0.0.1:`port`: face_vae's `serve`, or MLflow's own."""
    if server == "face_vae":
        commands = Path(__file__).resolve().parents[1] / "commands.py"
        return [sys.executable, str(commands), "serve", f"model_uri={uri}", f"tracking.uri={tracking_uri}",
                f"port={port}"]  # fmt: skip
    return [sys.executable, "-m", "mlflow", "models", "serve", "-m", uri, "--env-manager", "local",
            "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip


def main() -> None:  # pylint: disable=too-many-locals  # one measured run, told in order
    """Start the server, load it, send the hostile bodies, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri")
    parser.add_argument("--server", choices=["face_vae", "mlflow"], default="face_vae",
                        help="face_vae: commands.py serve (limits in front); mlflow: mlflow models serve")  # fmt: skip
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--n", type=int, default=4, help="faces per request")
    add_tiny(parser)
    args = parser.parse_args()
    if args.tiny:  # 2 clients x 2 requests of 1 face: the whole path in seconds, not a figure
        args.clients, args.requests, args.n = 2, 2, 1
    server_name = "commands.py serve" if args.server == "face_vae" else "mlflow models serve"
    print(machine_header(f"{server_name} under load"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        uri = args.model_uri or tiny_registered_model(folder)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{folder}/mlflow.db"),
        }
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["XDG_CACHE_HOME"] = str(folder / "cache")  # serve's registry cache: the scratch store's, dropped after
        command = server_command(args.server, uri, env["MLFLOW_TRACKING_URI"], port)
        with open(folder / "serve.log", "wb") as log_file:
            # pylint: disable-next=consider-using-with  # the server outlives this block: stopped in `finally`
            server = subprocess.Popen(
                command, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
            )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(180):
                try:
                    with urllib.request.urlopen(f"{url}/ping", timeout=2):
                        break
                except OSError:
                    time.sleep(1)
            body = json.dumps({"dataframe_records": [{"n": args.n, "seed": 0}]}).encode()
            post(f"{url}/invocations", body)  # warm
            before = rss_mb(server.pid)
            start = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                results = list(
                    pool.map(lambda _: post(f"{url}/invocations", body), range(args.clients * args.requests))
                )
            seconds = time.perf_counter() - start
            after = rss_mb(server.pid)
            latencies = sorted(result[2] for result in results)
            errors = sum(1 for result in results if result[0] != 200)
            print(f"\n{args.clients} clients x {args.requests} requests of {args.n} faces ({uri}): {seconds:.1f} s, "
                  f"{len(results) / seconds:.1f} requests/s, latency p50 {statistics.median(latencies) * 1000:.0f} ms, "
                  f"p95 {latencies[int(0.95 * len(latencies)) - 1] * 1000:.0f} ms, errors {errors}, "
                  f"server memory {before:.0f} -> {after:.0f} MB")  # fmt: skip
            print_hostile_answers(f"{url}/invocations")
            status, _, _ = post(f"{url}/invocations", body)
            memory = rss_mb(server.pid)
            print(f"\nAfter the hostile bodies: a plain request answers {status}; server memory {memory:.0f} MB")
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
