"""Progress of a long step, for a person at a terminal and for a log file alike."""

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

log = logging.getLogger(__name__)
Item = TypeVar("Item")


def is_terminal() -> bool:
    """Whether stderr is a terminal (a person watching) rather than a log file or a pipe."""
    return sys.stderr.isatty()


def progress(items: Iterable[Item], total: int, desc: str) -> Iterator[Item]:
    """`items`, shown as tqdm's bar with its ETA when stderr is a terminal, and as one plain line per tenth of
    `total` when it is not (a redirected log gets `desc: 3/10 (12 s)`, not carriage-return junk)."""
    if is_terminal():
        yield from tqdm(items, total=total, desc=desc)
        return
    every, start = max(1, -(-total // 10)), time.perf_counter()
    for done, item in enumerate(items, start=1):
        yield item
        if done % every == 0 or done == total:
            log.info("%s: %d/%d (%.0f s)", desc, done, total, time.perf_counter() - start)
