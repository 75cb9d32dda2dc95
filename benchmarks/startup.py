"""Seconds from the shell to the end of a command, beside `python -c "import torch"` (the floor).

    python benchmarks/startup.py [--repeat 3] [--project DIR]

Each command runs `--repeat` times in a fresh process and the median is printed. It trains a tiny
model on synthetic faces first (in a temporary folder), so that `infer` has something to load. With
--project, the commands of another checkout (e.g. an older commit's worktree) are timed the same way.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from benchmarks.common import add_tiny, machine_header  # noqa: E402

TINY_TRAIN = [
    "data=synthetic",
    "data.num_images.train=32",
    "data.num_images.val=16",
    "data.num_images.test=16",
    "trainer.max_epochs=1",
    "model.net.channels=[8,16,32,64,128]",
    "model.net.latent_dim=16",
    "tracking.enabled=false",
    "runtime.precision=32-true",
]


def seconds(command: list[str], cwd: Path, repeat: int) -> tuple[float, int]:
    """Median wall time of `command` over `repeat` runs, and its exit code."""
    times, code = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        code = subprocess.run(command, cwd=cwd, capture_output=True, check=False).returncode
        times.append(time.perf_counter() - start)
    return statistics.median(times), code


def main() -> None:
    """Train the tiny model, then time each command and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--project", type=Path, default=Path(__file__).resolve().parents[1])
    add_tiny(parser)
    args = parser.parse_args()
    if args.tiny:
        args.repeat = 1
    project = args.project.resolve()
    python, cli = sys.executable, str(project / "commands.py")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model, result = work / "tiny.pt", work / "result"
        subprocess.run(
            [python, cli, "train", *TINY_TRAIN, f"model_file={model}", "checkpoints_dir=ckpt",
             f"data.prepared_dir={work / 'prepared'}", f"data.attributes_file={work / 'attributes.txt'}"],
            cwd=work, capture_output=True, check=True,
        )  # fmt: skip
        infer = [python, cli, "infer", "n=16", f"model_file={model}", f"result_dir={result}"]
        rows = {
            'python -c "import torch" (the floor)': [python, "-c", "import torch"],
            "commands.py --help": [python, cli, "--help"],
            "commands.py infer n=-1 (a config error)": [python, cli, "infer", "n=-1"],
            "commands.py train trainer.max_epochs=0 (a config error)": [python, cli, "train", "trainer.max_epochs=0"],
            "commands.py infer n=16 tracking.enabled=false": [*infer, "tracking.enabled=false"],
            "commands.py infer n=16 (local MLflow store)": [*infer, f"tracking.uri=sqlite:///{work / 'mlflow.db'}"],
        }
        print(machine_header(f"Start-up, median of {args.repeat} fresh processes, project {project.name}"))
        print("| command | seconds | exit code |")
        print("| --- | ---: | ---: |")
        for name, command in rows.items():
            took, code = seconds(command, work, args.repeat)
            print(f"| {name} | {took:.2f} | {code} |")
    print(f"reproduce: python benchmarks/startup.py --repeat {args.repeat}")


if __name__ == "__main__":
    main()
