"""`myna serve` in a real headless Chromium (Debian's `chromium` + `chromium-driver`, driven by
selenium): make a playlist by clicking the map and searching, extend it, play a track with
seeking, save the m3u8, and take a screenshot that is not blank.

Skips where no browser is installed, except under MYNA_REQUIRE_REAL=1 (set by `.ci/run`),
where a missing browser fails. MYNA_SCREENSHOT=PATH also keeps the screenshot there (that
is how docs/web_map.png is made)."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest

from playlist.m3u import read_m3u
from playlist.synthetic import SyntheticSpec
from tests.player_helpers import audible_synthetic_store, require_program, start_serve, stop_serve

SPEC = SyntheticSpec(dim=16, genres=4, styles_per_genre=2, artists_per_style=4, tracks_per_artist=8, album_size=4)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium under chromedriver, downloading into its own folder."""
    chromium = require_program("chromium", "the web map is tested in a real browser")
    driver_path = require_program("chromedriver", "selenium drives chromium through it (chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,860", "--autoplay-policy=no-user-gesture-required", "--mute-audio",
                "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_script_timeout(120)
    yield driver, downloads
    driver.quit()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("webmap") / "music"
    lib = audible_synthetic_store(root, SPEC, seconds=2.0)
    server = start_serve(root)
    yield root, lib, server
    stop_serve(server)


def wait_for(driver, script: str, what: str, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while True:
        value = driver.execute_script(script)
        if value:
            return value
        if time.monotonic() > deadline:
            status = driver.execute_script("return document.getElementById('status').textContent")
            raise AssertionError(f"timed out waiting for {what} (page status: {status!r})")
        time.sleep(0.1)


def playlist_ids(driver) -> list[int]:
    return [int(i) for i in driver.execute_script(
        "return [...document.querySelectorAll('#playlist li')].map(li => li.dataset.id)")]


def test_make_extend_play_save_in_chromium(browser, served) -> None:
    from PIL import Image
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver, downloads = browser
    root, lib, server = served
    driver.get(server.url)
    wait_for(driver, "return document.body.dataset.ready === '1'", "the map")

    # Click three tracks of one artist on the canvas (ones drawn clear of their neighbours,
    # so the click lands on them and on no other).
    artist = 9
    wanted = [int(i) for i in lib.ids[np.flatnonzero(lib.artist == artist)]]
    clear = driver.execute_script("""
        const m = window.mynaMap, pts = [...m.state.index.keys()].map(id => [id, m.screenOf(id)]);
        return arguments[0].filter(id => { const p = m.screenOf(id);
            return pts.every(([j, q]) => j === id || Math.hypot(q[0] - p[0], q[1] - p[1]) > 9); });""", wanted)
    assert len(clear) >= 3, "the generated library draws this artist too tightly to click"
    canvas = driver.find_element(By.ID, "map")
    size = canvas.size
    for track_id in clear[:3]:
        x, y = driver.execute_script("return window.mynaMap.screenOf(arguments[0])", track_id)
        ActionChains(driver).move_to_element_with_offset(canvas, int(x - size["width"] / 2),
                                                         int(y - size["height"] / 2)).click().perform()
    assert playlist_ids(driver) == clear[:3]
    # ...and one more by searching.
    other = next(i for i in wanted if i not in clear[:3])
    driver.find_element(By.ID, "search").send_keys(lib.tracks[other - 1].title)
    driver.find_element(By.CSS_SELECTOR, f"#results li[data-id='{other}']").click()
    start = clear[:3] + [other]
    assert playlist_ids(driver) == start

    # Extend by 6, at most 2 from any one artist.
    n = driver.find_element(By.ID, "n")
    n.clear()
    n.send_keys("6")
    driver.find_element(By.ID, "cap").send_keys("2")
    driver.find_element(By.CSS_SELECTOR, "button[data-op='extend']").click()
    wait_for(driver, "return document.querySelectorAll('#playlist li.added').length === 6", "the extension")
    shown = playlist_ids(driver)
    added = shown[4:]
    assert shown[:4] == start and len(added) == 6 and not set(added) & set(start)
    labels = driver.execute_script(
        "return [...document.querySelectorAll('#playlist li.added .label')].map(e => e.textContent)")
    assert labels == [lib.tracks[i - 1].title and f"{lib.tracks[i - 1].artist} - {lib.tracks[i - 1].title}"
                      for i in added]
    artists = [lib.tracks[i - 1].artist for i in added]
    assert max(artists.count(a) for a in artists) <= 2
    assert "extend: 6 added" in driver.find_element(By.ID, "op-info").text

    # Play the first added track, then seek in it (the browser asks for byte ranges).
    driver.find_element(By.CSS_SELECTOR, f"#playlist li[data-id='{added[0]}'] button[title='play']").click()
    wait_for(driver, "const a = document.getElementById('player'); return a.readyState >= 1 && a.duration > 1",
             "the audio's metadata")
    assert driver.execute_script("return document.getElementById('player').dataset.track") == str(added[0])
    seeked = driver.execute_async_script("""
        const done = arguments[0], a = document.getElementById('player');
        a.addEventListener('seeked', () => done(a.currentTime), { once: true });
        a.currentTime = 1.25;""")
    assert abs(seeked - 1.25) < 0.1
    assert driver.execute_script("return document.getElementById('player').error") is None

    # Save: the browser downloads NAME.m3u8 holding the playlist, the added tracks included.
    name = driver.find_element(By.ID, "name")
    name.clear()
    name.send_keys("browser mix")
    driver.find_element(By.ID, "save").click()
    saved = downloads / "browser mix.m3u8"
    deadline = time.monotonic() + 60
    while not saved.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert saved.exists(), list(downloads.iterdir())
    paths = [e.path for e in read_m3u(saved)]
    assert paths == [root / lib.tracks[i - 1].path.relative_to("/synthetic") for i in start + added]

    # The map as drawn: not blank, with the playlist's blue and the added tracks' orange in it.
    driver.find_element(By.ID, "search").send_keys(Keys.CONTROL, "a", Keys.BACKSPACE)  # fires `input`
    wait_for(driver, "return document.querySelectorAll('#results li').length === 0", "the search list to empty")
    driver.find_element(By.ID, "zoom-playlist").click()
    png = driver.get_screenshot_as_png()
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert image.shape[0] > 400 and image.shape[1] > 800
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 200

    def has(rgb) -> bool:
        return bool((np.abs(image - np.array(rgb)).sum(axis=2) < 40).sum() > 20)

    assert has((31, 95, 191)) and has((232, 89, 12)) and has((185, 190, 200))
    if os.environ.get("MYNA_SCREENSHOT"):
        Path(os.environ["MYNA_SCREENSHOT"]).write_bytes(png)


def test_tsne_map_and_m3u_upload_in_chromium(browser, served, tmp_path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, _ = browser
    root, lib, server = served
    driver.get(server.url)
    wait_for(driver, "return document.body.dataset.ready === '1'", "the map")
    Select(driver.find_element(By.ID, "method")).select_by_value("tsne")
    wait_for(driver, "return window.mynaMap.state.method === 'tsne' && document.body.dataset.busy !== '1'",
             "the t-SNE map")
    m3u = tmp_path / "upload.m3u8"
    files = [root / t.path.relative_to("/synthetic") for t in lib.tracks[8:12]]
    m3u.write_text("#EXTM3U\n" + "\n".join(str(f) for f in files) + "\nnot/here.flac\n", encoding="utf-8")
    driver.find_element(By.ID, "load").send_keys(str(m3u))
    wait_for(driver, "return document.querySelectorAll('#playlist li').length === 4", "the uploaded playlist")
    assert playlist_ids(driver) == [int(i) for i in lib.ids[8:12]]
    assert "4 tracks, 1 skipped" in driver.find_element(By.ID, "status").text
