"""Progress bars for long work (assembly, hashing, indexing), on stderr only when useful."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from tqdm import tqdm


@contextmanager
def progress_bar(desc: str, total: int | None, unit: str = "B", quiet: bool = False) -> Iterator[tqdm]:
    scale = unit == "B"
    bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=scale, unit_divisor=1024 if scale else 1000,
               disable=quiet, file=sys.stderr, leave=True, dynamic_ncols=True, mininterval=0.5)
    try:
        yield bar
    finally:
        bar.close()
