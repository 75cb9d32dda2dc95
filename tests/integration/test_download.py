"""`download` against a loopback HTTP server (127.0.0.1 only, stopped after each test), and `prepare` from the zip."""

import hashlib
import random
import socket
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from face_vae import cli
from face_vae.core.config import compose
from face_vae.core.prepare import prepared_data
from face_vae.data.attributes import write_attributes
from face_vae.data.synthetic import write_celeba_layout

FILES = ("img_align_celeba.zip", "list_eval_partition.txt", "list_attr_celeba.txt")


class CelebAServer(ThreadingHTTPServer):
    """Serves `files` by name with HTTP Range support; `behaviour[name]` makes one file misbehave:
    'drop_once' (the first answer stops half way), 'html' (a quota page), 'short' (half the bytes)."""

    def __init__(self, files: dict[str, bytes]):
        super().__init__(("127.0.0.1", 0), RangeHandler)
        self.files = files
        self.behaviour: dict[str, str] = {}
        self.requests: list[tuple[str, str | None]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class RangeHandler(BaseHTTPRequestHandler):
    """GET with `Range: bytes=N-` (what a resumed download sends), and the misbehaviours of its server."""

    server: CelebAServer

    def do_GET(self) -> None:  # pylint: disable=invalid-name  # http.server's name
        name = self.path.lstrip("/")
        self.server.requests.append((name, self.headers.get("Range")))
        if name not in self.server.files:
            self.send_error(404)
            return
        data, behaviour = self.server.files[name], self.server.behaviour.get(name, "")
        if behaviour == "html":
            data = b"<!DOCTYPE html><html><body>Google Drive - Quota exceeded</body></html>"
        elif behaviour == "short":
            data = data[: len(data) // 2]
        start = int(self.headers["Range"].split("=")[1].split("-")[0]) if self.headers.get("Range") else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "text/html" if behaviour == "html" else "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Accept-Ranges", "bytes")
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        body = data[start:]
        if behaviour == "drop_once":
            self.server.behaviour[name] = ""  # the next request is answered in full
            body = body[: len(body) // 2]
            self.close_connection = True
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # quiet: the test output is the tests'
        pass


@pytest.fixture
def celeba_files(tmp_path: Path) -> dict[str, bytes]:
    """CelebA's three files in their official formats, made from drawn faces (no real photo)."""
    source = write_celeba_layout(tmp_path / "made", {"train": 12, "val": 6, "test": 4})
    archive = tmp_path / "img_align_celeba.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for image in sorted((source / "img_align_celeba").iterdir()):
            zipped.write(image, f"img_align_celeba/{image.name}")
        # gdown writes in 512 KiB chunks: a file cut half way must be larger than two of them to leave bytes to resume.
        zipped.writestr("padding.bin", random.Random(0).randbytes(3 * 2**20))
    names = sorted(path.name for path in (source / "img_align_celeba").iterdir())
    labels = {name: [index % 2 == 0, index % 3 == 0] for index, name in enumerate(names)}
    write_attributes(tmp_path / "attributes.txt", ["Smiling", "Male"], labels)
    return {
        "img_align_celeba.zip": archive.read_bytes(),
        "list_eval_partition.txt": (source / "list_eval_partition.txt").read_bytes(),
        "list_attr_celeba.txt": (tmp_path / "attributes.txt").read_bytes(),
    }


@pytest.fixture
def server(celeba_files: dict[str, bytes]) -> Iterator[CelebAServer]:
    served = CelebAServer(celeba_files)
    thread = threading.Thread(target=served.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield served
    served.shutdown()
    served.server_close()
    thread.join(timeout=5)


KEYS = {"img_align_celeba.zip": "images", "list_eval_partition.txt": "partition", "list_attr_celeba.txt": "attributes"}


def _overrides(server: CelebAServer, files: dict[str, bytes], target: str = "data/celeba", **md5s: str) -> list[str]:
    words = [f"download.mirror={server.url}", f"data.source_dir={target}", "download.timeout_s=10"]
    words.append("download.retries=0")
    for name, data in files.items():
        words.append(f"download.files.{KEYS[name]}.md5={md5s.get(KEYS[name], hashlib.md5(data).hexdigest())}")
    return words


def _error_line(capsys, overrides: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli.run("download", overrides)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err.splitlines()[-1]


def test_download_fetches_and_checks_every_file_and_skips_what_is_there(workdir, server, celeba_files):
    cli.run("download", _overrides(server, celeba_files))
    for name, data in celeba_files.items():
        assert (workdir / "data" / "celeba" / name).read_bytes() == data
    assert not list((workdir / "data" / "celeba").glob("*.download*")), "no partial file is left"
    served = len(server.requests)
    cli.run("download", _overrides(server, celeba_files))
    assert len(server.requests) == served, "files already there with the right MD5 are not fetched again"


def test_a_download_cut_half_way_resumes_where_it_stopped(workdir, capsys, server, celeba_files):
    server.behaviour["img_align_celeba.zip"] = "drop_once"
    line = _error_line(capsys, _overrides(server, celeba_files))
    assert "The download of img_align_celeba.zip" in line and "run `python commands.py download` again" in line
    folder = workdir / "data" / "celeba"
    assert not (folder / "img_align_celeba.zip").exists(), "no half file under the real name"
    assert len(list(folder.glob("img_align_celeba.zip.download*.part"))) == 1

    cli.run("download", _overrides(server, celeba_files))
    assert (folder / "img_align_celeba.zip").read_bytes() == celeba_files["img_align_celeba.zip"]
    ranges = [header for name, header in server.requests if name == "img_align_celeba.zip"]
    assert ranges[-1] is not None and ranges[-1].startswith("bytes="), "the second run asked for the rest only"
    assert not list(folder.glob("*.part"))


def test_an_html_page_instead_of_the_zip_is_one_line_and_leaves_nothing(workdir, capsys, server, celeba_files):
    server.behaviour["img_align_celeba.zip"] = "html"
    line = _error_line(capsys, _overrides(server, celeba_files))
    assert "sent a web page instead of img_align_celeba.zip" in line and "try again later" in line
    assert not list((workdir / "data" / "celeba").glob("img_align_celeba.zip*"))


def test_a_short_file_or_a_wrong_checksum_is_one_line_and_is_deleted(workdir, capsys, server, celeba_files):
    server.behaviour["list_eval_partition.txt"] = "short"
    line = _error_line(capsys, _overrides(server, celeba_files))
    assert "list_eval_partition.txt came with MD5" in line and "not the published" in line
    assert not list((workdir / "data" / "celeba").glob("list_eval_partition.txt*"))

    server.behaviour.clear()
    line = _error_line(capsys, _overrides(server, celeba_files, attributes="0" * 32))
    assert f"not the published {'0' * 32}" in line and "by hand from https://mmlab.ie.cuhk.edu.hk" in line
    assert "img_align_celeba.zip, list_eval_partition.txt, list_attr_celeba.txt by hand" in line, "all three named"


def test_no_network_is_said_as_such_not_as_a_download_to_resume(workdir, capsys, monkeypatch):
    import gdown
    import requests

    def no_dns(*args, **kwargs):
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except socket.gaierror as error:
            raise requests.exceptions.ConnectionError("Max retries exceeded (Failed to resolve 'drive')") from error

    monkeypatch.setattr(gdown, "download", no_dns)
    with pytest.raises(SystemExit):
        cli.run("download", ["data.source_dir=data/celeba", "download.retries=0"])
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("error: There is no network") and "again to resume" not in line
    assert "list_eval_partition.txt, list_attr_celeba.txt by hand" in line


def test_prepare_from_the_zip_gives_the_same_bytes_as_from_the_unzipped_folder(workdir, server, celeba_files):
    cli.run("download", _overrides(server, celeba_files, target="zipped"))
    folder = workdir / "unzipped"
    folder.mkdir()
    with zipfile.ZipFile(workdir / "zipped" / "img_align_celeba.zip") as archive:
        archive.extractall(folder)
    (folder / "list_eval_partition.txt").write_bytes(celeba_files["list_eval_partition.txt"])
    results = {}
    for source in ("zipped", "unzipped"):
        prepared = prepared_data(compose("prepare", [f"data.source_dir={source}", f"data.prepared_dir=p_{source}"]))
        results[source] = {split: (prepared / f"{split}.u8").read_bytes() for split in ("train", "val", "test")}
    assert results["zipped"] == results["unzipped"]
    assert len(results["zipped"]["train"]) == 12 * 150 * 150 * 3


def test_train_without_data_or_remote_offers_download(workdir, capsys):
    (workdir / "data.dvc").write_text("outs:\n- path: data\n")
    with pytest.raises(SystemExit):
        cli.run("train", ["tracking.enabled=false"])
    assert "python commands.py download data.source_dir=data/celeba" in capsys.readouterr().err


def test_a_mirrors_password_reaches_neither_the_progress_lines_nor_the_error(workdir, capsys, monkeypatch, server):
    del workdir
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # gdown prints the URL above its bar in a terminal
    server.behaviour["img_align_celeba.zip"] = "drop_once"
    words = _overrides(server, server.files)
    words[0] = "download.mirror=" + server.url.replace("http://", "http://user:s3cret@")
    with pytest.raises(SystemExit):
        cli.run("download", words)
    err = capsys.readouterr().err
    assert "From:" in err and "http://***@127.0.0.1" in err, "gdown's lines are shown, masked"
    assert "The download of img_align_celeba.zip from http://***@127.0.0.1" in err
    assert "s3cret" not in err
