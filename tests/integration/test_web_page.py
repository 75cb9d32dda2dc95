"""`export format=web`: the page, served on 127.0.0.1 and opened in headless Chromium, draws the faces
sample_faces.py draws for a seed, steers them with its sliders, and says in words what it cannot load."""

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmarks import web_page
from face_vae.serving import web_export
from face_vae.serving.sample_faces import sha256

HAS_ONNX = importlib.util.find_spec("onnxruntime") is not None
pytestmark = pytest.mark.skipif(not HAS_ONNX, reason="export needs the export extra: poetry install --extras export")
NO_BROWSER = web_page.browser_missing()
needs_browser = pytest.mark.skipif(NO_BROWSER is not None, reason=f"no headless browser: {NO_BROWSER}")


@pytest.fixture(scope="module")
def page_dir(tmp_path_factory) -> Path:
    """A tiny VAE with a mixture prior and a two-attribute classifier, exported as a page with a local
    onnxruntime-web."""
    if NO_BROWSER is not None:
        pytest.skip(f"no headless browser: {NO_BROWSER}")
    return web_page.export_tiny(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def browser():
    if NO_BROWSER is not None:
        pytest.skip(f"no headless browser: {NO_BROWSER}")
    with web_page.chromium() as driver:
        yield driver


def _copy(page_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "page"
    shutil.copytree(page_dir, copy)
    return copy


@needs_browser
def test_the_page_draws_the_faces_sample_faces_draws_for_a_seed(page_dir, browser):
    with web_page.served(page_dir) as url:
        assert web_page.open_page(browser, url + "?seed=7") == ""
        drawn = web_page.canvas_pixels(browser)
        expected = web_page.sampler_pixels(page_dir, 7)
        assert drawn.shape == expected.shape == (16, 32, 32, 3)
        assert np.abs(drawn.astype(int) - expected).max() <= 2  # within 2/255 per pixel
        assert len({face.tobytes() for face in drawn}) == 16  # 16 different faces
        # The seed field and the Draw button: another seed, the sampler's faces for it.
        field = browser.find_element("id", "seed")
        field.clear()
        field.send_keys("123456789")
        browser.find_element("id", "draw").click()
        web_page.settled(browser)
        again = web_page.canvas_pixels(browser)
        assert np.abs(again.astype(int) - web_page.sampler_pixels(page_dir, 123456789)).max() <= 2
        assert not np.array_equal(again, drawn)
        assert "16 faces of 32x32, seed 123456789" in browser.find_element("id", "status").text


@needs_browser
def test_moving_a_slider_changes_the_faces_and_back_restores_them(page_dir, browser):
    from selenium.webdriver.common.keys import Keys

    with web_page.served(page_dir) as url:
        assert web_page.open_page(browser, url) == ""
        before = web_page.canvas_pixels(browser)
        walk = browser.find_elements("css selector", "#walk canvas")
        assert len(walk) == 8 and walk[0].size["width"] > 0
        slider = browser.find_element("id", "attribute-Smiling")
        slider.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
        web_page.settled(browser)
        assert slider.get_attribute("value") == "2"
        moved = web_page.canvas_pixels(browser)
        assert np.abs(moved.astype(int) - before).mean() > 1  # every face moved along Smiling
        slider.send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT, Keys.ARROW_LEFT, Keys.ARROW_LEFT)
        web_page.settled(browser)
        assert np.abs(web_page.canvas_pixels(browser).astype(int) - before).max() <= 1


@needs_browser
def test_the_walk_runs_from_one_face_of_the_grid_to_another(page_dir, browser):
    with web_page.served(page_dir) as url:
        assert web_page.open_page(browser, url) == ""
        grid = web_page.canvas_pixels(browser)
        walk = web_page.canvas_pixels(browser, "#walk canvas")
        assert np.abs(walk[0].astype(int) - grid[0]).max() <= 1
        assert np.abs(walk[-1].astype(int) - grid[1]).max() <= 1


@needs_browser
def test_a_page_without_its_decoder_says_so_in_words(page_dir, browser, tmp_path):
    copy = _copy(page_dir, tmp_path)
    (copy / "decoder.onnx").unlink()
    with web_page.served(copy) as url:
        error = web_page.open_page(browser, url)
    assert error.startswith("decoder.onnx could not be loaded (HTTP 404)")
    assert "run `python commands.py export format=web` again" in error
    assert browser.find_element("id", "status").text == "The model did not load."


@needs_browser
@pytest.mark.parametrize("name", ["decoder.onnx", "prior.bin", "attributes.json"])
def test_a_changed_file_is_refused_before_any_face_is_drawn(page_dir, browser, tmp_path, name):
    copy = _copy(page_dir, tmp_path)
    data = bytearray((copy / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / name).write_bytes(bytes(data))
    with web_page.served(copy) as url:
        error = web_page.open_page(browser, url)
    assert error == f"{name} is not the file the export wrote (its checksum differs): run `python commands.py " \
                    "export format=web` again."  # fmt: skip
    assert browser.execute_script("return window.faceVae.page.baseLatents === undefined")


@needs_browser
def test_a_prior_with_values_that_are_not_finite_is_refused(page_dir, browser, tmp_path):
    copy = _copy(page_dir, tmp_path)
    numbers = np.frombuffer((copy / "prior.bin").read_bytes(), "<f8").copy()
    numbers[5] = np.nan
    (copy / "prior.bin").write_bytes(numbers.tobytes())
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"]["prior.bin"]["sha256"] = sha256(copy / "prior.bin")  # as if re-exported badly
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with web_page.served(copy) as url:
        assert web_page.open_page(browser, url).startswith("prior.bin holds values that are not finite")


def test_the_page_loads_onnxruntime_web_from_the_pinned_url_with_the_npm_packages_hash(tmp_path):
    """The default page names the CDN's copy of onnxruntime-web with an integrity hash that is the npm
    package's own (a browser runs the script only when the bytes match); ort_dir copies the files instead."""
    prior = {"name": np.array("standard_normal"), "latent_dim": np.array(4)}
    web = web_export.write_page(tmp_path, prior, None, None)
    page = (tmp_path / "index.html").read_text()
    assert f'src="{web_export.ORT_URL}" integrity="{web_export.ORT_INTEGRITY}" crossorigin="anonymous"' in page
    assert web_export.ORT_VERSION in web_export.ORT_URL and web["onnxruntime_web"] == web_export.ORT_URL
    assert not (tmp_path / "prior.bin").exists() and not (tmp_path / "ort.wasm.min.js").exists()
    if not (web_page.ORT_DIR / "ort.wasm.min.js").is_file():
        pytest.skip(f"onnxruntime-web is not unpacked at {web_page.ORT_DIR}: the hash is checked where it is")
    assert web_export.sri_sha384(web_page.ORT_DIR / "ort.wasm.min.js") == web_export.ORT_INTEGRITY


def test_an_ort_dir_without_onnxruntime_web_is_refused_in_one_sentence(tmp_path):
    from face_vae.core.errors import UserError

    prior = {"name": np.array("standard_normal"), "latent_dim": np.array(4)}
    with pytest.raises(UserError, match=r"^ort_dir=\S+ lacks ort.wasm.min.js, ort-wasm-simd-threaded.mjs, "):
        web_export.write_page(tmp_path, prior, None, str(tmp_path))
