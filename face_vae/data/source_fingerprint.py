"""The DVC pipeline's view of a data source: the names, sizes and modification times of every file under it, as one
digest in a small JSON file (`python -m face_vae.data.source_fingerprint SOURCE OUTPUT`).

The pipeline's `prepare` stage depends on that file, not on the source folder: CelebA's folder lies inside the `data`
output of data.dvc, and a stage that depends on it makes `dvc repro` "reproduce" data.dvc too, rewriting the team's
pointer to whatever data/ holds now."""

import hashlib
import json
import os
import sys
from pathlib import Path


def source_fingerprint(source: Path) -> dict:
    """{"files", "bytes", "fingerprint"} of a file, or of every file under a folder (walked in name order, one
    entry at a time: memory stays flat however many files)."""
    digest, files, size = hashlib.sha1(), 0, 0
    paths = [source] if source.is_file() else _files_under(source)
    for path in paths:
        found = path.stat()
        name = path.relative_to(source).as_posix() if path != source else path.name
        digest.update(f"{name}\0{found.st_size}\0{found.st_mtime_ns}\n".encode())
        files, size = files + 1, size + found.st_size
    return {"files": files, "bytes": size, "fingerprint": digest.hexdigest()}


def _files_under(folder: Path):
    for root, folders, names in os.walk(folder):
        folders.sort()
        for name in sorted(names):
            yield Path(root) / name


def main(argv: list[str]) -> int:
    """Write the fingerprint of `argv[0]` to `argv[1]`; one line and exit code 1 when the source is missing."""
    source, output = Path(argv[0]), Path(argv[1])
    if not source.exists():
        print(
            f"error: the pipeline's source_dir {source} does not exist: get CelebA with `python commands.py "
            "download` (or `python commands.py pull`), or set source_dir in params.yaml to your data.",
            file=sys.stderr,
        )
        return 1
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"source": argv[0], **source_fingerprint(source)}, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
