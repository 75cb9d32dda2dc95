"""The export's web page in headless Chromium: the time from opening the page to a ready model, and to 16 faces
drawn; with --screenshot, a picture of the page. The tests drive the page through the helpers here.

    python benchmarks/web_page.py [--model-file models/vae.pt] [--classifier-file models/attributes.pt]
                                  [--ort-dir .cache/onnxruntime-web/package/dist] [--screenshot page.png] [--tiny]

Needs Debian's chromium and chromium-driver (`apt-get install chromium chromium-driver`), selenium (a dev
dependency) and onnxruntime-web's dist folder from the npm registry (`.ci/run` unpacks it into --ort-dir's
default). Without --model-file (or with --tiny) a tiny random VAE is exported, so the figures then describe the
page and onnxruntime-web, not a 150 px decoder. The page is served on 127.0.0.1 only.
"""

import argparse
import base64
import contextlib
import functools
import http.server
import os
import shutil
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from benchmarks.common import add_tiny, machine_header  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ORT_DIR = Path(os.environ.get("FACE_VAE_ORT_DIR") or ROOT / ".cache" / "onnxruntime-web" / "package" / "dist")
TIMEOUT_S = 120  # for the page to load the model and draw: the wasm is compiled on first use


def browser_missing() -> str | None:
    """Why the page cannot be opened here, or None: chromium, chromedriver, selenium, onnxruntime-web."""
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (apt-get install chromium chromium-driver; .ci/run does)"
    try:
        import selenium  # noqa: F401  # pylint: disable=unused-import
    except ImportError:
        return "selenium is not installed (poetry install: a dev dependency)"
    if not (ORT_DIR / "ort.wasm.min.js").is_file():
        return f"onnxruntime-web is not unpacked at {ORT_DIR} (npm pack onnxruntime-web@1.23.0; .ci/run does)"
    return None


@contextlib.contextmanager
def served(folder: Path) -> Iterator[str]:
    """`folder` served as static files on 127.0.0.1 (a free port); yields the page's URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        """Static files, without a log line per request."""

        def log_message(self, format, *args):  # pylint: disable=redefined-builtin  # the base class's name
            del format, args

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def chromium(width: int = 1000, height: int = 1000):
    """Debian's Chromium, headless, driven by selenium through the system chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    driver.set_script_timeout(TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver, url: str) -> str:
    """Open the page and wait until it has drawn its first faces or given up; return its error text."""
    driver.get(url)
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.faceVaeReady.then(() => done(window.faceVae.error()), (e) => done(String(e)));"
    )


def settled(driver) -> None:
    """Wait until the page has no drawing in progress."""
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "Promise.resolve(window.faceVae.page.rendering).then(() => done(null), () => done(null));"
    )


def canvas_pixels(driver, selector: str = "#grid canvas") -> np.ndarray:
    """The faces the page drew in the canvases `selector` finds (the grid by default): (N, H, W, 3) uint8."""
    encoded = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((canvas) => {"
        "  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;"
        "  let text = ''; for (let i = 0; i < data.length; i++) text += String.fromCharCode(data[i]);"
        "  return [canvas.width, btoa(text)]; });",
        selector,
    )
    faces = [np.frombuffer(base64.b64decode(data), np.uint8).reshape(size, size, 4)[..., :3] for size, data in encoded]
    return np.stack(faces)


def sampler_pixels(export_dir: Path, seed: int, count: int = 16) -> np.ndarray:
    """The faces sample_faces.py (the exported copy) draws for `seed`, before JPEG: (count, H, W, 3) uint8."""
    sys.path.insert(0, str(export_dir))
    try:
        import sample_faces  # pylint: disable=import-error  # the export's own copy
    finally:
        sys.path.remove(str(export_dir))
    session, prior = sample_faces.load_export(export_dir)
    images = sample_faces.decode(session, sample_faces.face_latents(prior, seed, 0, count))
    return np.stack([np.asarray(sample_faces.to_pil(image)) for image in images])


def timings(driver, seeds: range) -> tuple[float, list[float]]:
    """(ms from opening the page to a loaded model, [ms to draw 16 faces for each seed])."""
    draws = []
    for seed in seeds:
        driver.execute_async_script(
            f"const done = arguments[arguments.length - 1]; window.faceVae.page.draw({seed}).then(() => done(null));"
        )
        draws.append(driver.execute_script("return window.faceVae.page.drawMs;"))
    return driver.execute_script("return window.faceVae.page.loadMs;"), draws


def export_tiny(folder: Path) -> Path:
    """A tiny random VAE (with a fitted mixture and a two-attribute classifier) exported as a page in `folder`."""
    import torch

    from face_vae import cli
    from face_vae.core.models.model_file import save_model
    from face_vae.core.models.nets.resnet import VAE
    from face_vae.core.models.priors import GaussianMixture
    from face_vae.model_records import weights_checksum
    from face_vae.models.classifier import AttributeClassifier, save_classifier

    torch.manual_seed(0)
    network = VAE(32, [8, 16], 4)
    network.prior = GaussianMixture(components=3, max_codes=20_000).fit(torch.randn(64, 4), seed=0)
    save_model(network, folder / "vae.pt")
    classifier = AttributeClassifier(4, ["Smiling", "Eyeglasses"])
    classifier.fit_statistics(torch.randn(64, 4), (torch.rand(64, 2) > 0.5).float())
    save_classifier(classifier, folder / "attributes.pt", weights_checksum(folder / "vae.pt"))
    cli.run("export", ["tracking.enabled=false", "storage.pull=false", "format=web", f"ort_dir={ORT_DIR}",
                       f"model_file={folder / 'vae.pt'}", f"classifier_file={folder / 'attributes.pt'}",
                       f"export_dir={folder / 'export'}"])  # fmt: skip
    return folder / "export"


def main() -> None:
    """Export (or take) a page, open it in headless Chromium, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--model-file", help="a trained model file (default: a tiny random VAE)")
    parser.add_argument("--classifier-file", default="models/attributes.pt", help="sliders, when the file exists")
    parser.add_argument("--screenshot", help="save a picture of the page here (PNG)")
    parser.add_argument("--seeds", type=int, default=5, help="draws to time after the first")
    add_tiny(parser)
    args = parser.parse_args()
    reason = browser_missing()
    if reason:
        sys.exit(f"Cannot open the page: {reason}.")
    with tempfile.TemporaryDirectory() as scratch:
        if args.model_file and not args.tiny:
            from face_vae import cli

            export_dir = Path(scratch) / "export"
            cli.run("export", ["tracking.enabled=false", "format=web", f"ort_dir={ORT_DIR}",
                               f"model_file={args.model_file}", f"classifier_file={args.classifier_file}",
                               f"export_dir={export_dir}"])  # fmt: skip
        else:
            export_dir = export_tiny(Path(scratch))
        with served(export_dir) as url, chromium() as driver:
            error = open_page(driver, url)
            if error:
                sys.exit(f"The page said: {error}")
            load_ms, draws = timings(driver, range(1, 1 + (2 if args.tiny else args.seeds)))
            drawn = canvas_pixels(driver)  # the last seed's faces
            difference = int(np.abs(drawn.astype(int) - sampler_pixels(export_dir, len(draws))).max())
            if args.screenshot:
                driver.execute_async_script(
                    "const done = arguments[arguments.length - 1]; window.faceVae.page.draw(0).then(() => done(null));"
                )
                driver.save_screenshot(args.screenshot)
    size = drawn.shape[1]
    print(machine_header("The web page (format=web) in headless Chromium, onnxruntime-web wasm, 1 thread"))
    print(f"model: {args.model_file or 'tiny random VAE'} ({size} px)")
    print("| step | ms |\n| --- | --- |")
    print(f"| open the page -> model loaded | {load_ms:.0f} |")
    print(f"| draw 16 faces (median of {len(draws)} seeds) | {statistics.median(draws):.0f} |")
    print(f"largest difference from sample_faces.py's pixels (seed {len(draws)}): {difference}/255")


if __name__ == "__main__":
    main()
