"""Two training processes side by side: does each slow the other down by more than the core count explains?

    python benchmarks/side_by_side.py [--image-size 64] [--steps 20] [--wait-policy PASSIVE unset ACTIVE]

For each OpenMP wait policy it times the project's training step in one process alone, then in two
processes started together, each with as many threads as the machine has cores (the default). On a
machine with C cores, two processes sharing them should each run at about half speed: a slowdown far
above 2x means the threads spin-wait for each other (OpenMP's ACTIVE policy).
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from benchmarks.common import add_tiny, machine_header  # noqa: E402

WORKER = """
import json, sys
sys.path.insert(0, {root!r})
from benchmarks.train_step import images_per_second
print(json.dumps(images_per_second({size}, steps={steps})))
"""


def speeds(count: int, policy: str, size: int, steps: int) -> list[float]:
    """Images/s of each of `count` processes started together under OpenMP wait `policy`."""
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    if policy != "unset":  # unset: the OpenMP runtime's own default (libgomp: spin a while, then sleep)
        env["OMP_WAIT_POLICY"] = policy
    code = WORKER.format(root=str(Path(__file__).resolve().parents[1]), size=size, steps=steps)
    # pylint: disable-next=consider-using-with  # they must run at the same time; communicate() reaps each
    processes = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
                 for _ in range(count)]  # fmt: skip
    return [json.loads(process.communicate()[0].strip().splitlines()[-1]) for process in processes]


def main() -> None:
    """Time one process alone and two together, per wait policy, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--wait-policy", nargs="+", default=["PASSIVE", "unset", "ACTIVE"])
    add_tiny(parser)
    args = parser.parse_args()
    if args.tiny:
        args.image_size, args.steps, args.wait_policy = 32, 1, ["PASSIVE"]
    print(machine_header(f"Training step at {args.image_size} px: one process alone vs two side by side"))
    print("| OMP_WAIT_POLICY | alone img/s | each of two img/s | slowdown of each | expected from the cores |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for policy in args.wait_policy:
        alone = speeds(1, policy, args.image_size, args.steps)[0]
        together = speeds(2, policy, args.image_size, args.steps)
        mean = sum(together) / len(together)
        print(f"| {policy} | {alone:.1f} | {' / '.join(f'{s:.1f}' for s in together)} | {alone / mean:.1f}x | 2.0x |")
    print(f"reproduce: python benchmarks/side_by_side.py --image-size {args.image_size} --steps {args.steps}")


if __name__ == "__main__":
    main()
