"""`myna serve` in a real headless Chromium (Debian's `chromium` + `chromium-driver`, driven by
selenium): colour modes and the legend, names at a distance and titles close up, hover,
themes, lasso, extend, transition, playback, saving. Each state is screenshotted and the
pixels are checked for what must be visible (the groups' colours, the hull, the path); labels
are checked not to overlap through the boxes the browser reports for them.

Skips where no browser is installed, except under MYNA_REQUIRE_REAL=1 (set by `.ci/run`),
where a missing browser fails. MYNA_SCREENSHOTS=DIR also keeps the screenshots there (that
is how docs/web_map/*.png are made: `MYNA_SCREENSHOTS=docs/web_map pytest tests/test_web_browser.py`)."""

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
TRICKY_ID = 5
TRICKY_TITLE = "<img src=x onerror=\"document.body.dataset.hacked=1\">  Song [live] & <b>more</b>"
BACKGROUND = {"light": (255, 255, 255), "dark": (16, 19, 25)}


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
                "--window-size=1400,860", "--force-device-scale-factor=1", "--hide-scrollbars",
                "--autoplay-policy=no-user-gesture-required", "--mute-audio",
                "--no-first-run", "--disable-extensions", "--disable-background-networking", "--lang=en-US"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    # TMPDIR: chromium's own temporary folders go where pytest cleans up, not into /tmp for good
    service = Service(executable_path=driver_path, env={**os.environ, "TMPDIR": str(tmp_path_factory.mktemp("tmp"))})
    driver = webdriver.Chrome(service=service, options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_script_timeout(120)
    yield driver, downloads
    driver.quit()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from playlist.library.store import LibraryStore

    root = tmp_path_factory.mktemp("webmap") / "music"
    lib = audible_synthetic_store(root, SPEC, seconds=2.0)
    file = embed_cover(root / lib.tracks[TRICKY_ID - 1].path.relative_to("/synthetic"))
    with LibraryStore.open(root / ".myna", root=root) as store, store.transaction():
        store.touch_track(TRICKY_ID, file.stat().st_size, file.stat().st_mtime_ns)
        # a title as a tag editor may leave it: markup and runs of spaces, to be shown as itself
        store._conn.execute("UPDATE tracks SET title = ? WHERE id = ?", (TRICKY_TITLE, TRICKY_ID))
    server = start_serve(root)
    yield root, lib, server
    stop_serve(server)


def embed_cover(file: Path) -> Path:
    """The FLAC with a 64x64 front cover (a gradient) embedded."""
    from mutagen.flac import FLAC, Picture
    from PIL import Image

    ramp = np.linspace(0, 255, 64).astype(np.uint8)
    pixels = np.stack([np.tile(ramp, (64, 1)), np.tile(ramp[:, None], (1, 64)), np.full((64, 64), 160, np.uint8)], -1)
    png = io.BytesIO()
    Image.fromarray(pixels).save(png, "PNG")
    flac = FLAC(file)
    picture = Picture()
    picture.type, picture.mime, picture.width, picture.height, picture.data = 3, "image/png", 64, 64, png.getvalue()
    flac.add_picture(picture)
    flac.save()
    return file


def wait_for(driver, script: str, what: str, seconds: float = 120, *args):
    deadline = time.monotonic() + seconds
    while True:
        value = driver.execute_script(script, *args)
        if value:
            return value
        if time.monotonic() > deadline:
            status = driver.execute_script("return document.getElementById('status').textContent")
            raise AssertionError(f"timed out waiting for {what} (page status: {status!r})")
        time.sleep(0.1)


def open_page(driver, server, scheme: str = "light") -> None:
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                           {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
    driver.get(server.url)
    wait_for(driver, "return document.body.dataset.ready === '1'", "the map")
    settle(driver)


def settle(driver) -> None:
    """Until the page has drawn what it was asked to (frames are drawn on animation frames)."""
    driver.execute_async_script("const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(done));")


def shot(driver, name: str) -> np.ndarray:
    """The page as pixels (RGB); kept as DIR/NAME.png under MYNA_SCREENSHOTS=DIR."""
    from PIL import Image

    settle(driver)
    png = driver.get_screenshot_as_png()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    if os.environ.get("MYNA_SCREENSHOTS"):
        folder = Path(os.environ["MYNA_SCREENSHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / f"{name}.png", optimize=True)
    return np.asarray(image).astype(int)


def map_pixels(driver, image: np.ndarray) -> np.ndarray:
    """The map's part of a screenshot (the canvas, left of the panel)."""
    rect = driver.execute_script("const r = document.getElementById('map').getBoundingClientRect();"
                                 "return [r.left, r.top, r.right, r.bottom];")
    x0, y0, x1, y1 = (int(v) for v in rect)
    return image[y0:y1, x0:x1]


def count(image: np.ndarray, rgb, tolerance: int = 24) -> int:
    return int((np.abs(image - np.array(rgb)).max(axis=2) <= tolerance).sum())


def rendered_rgb(driver, colours: list[str]) -> list[tuple[int, int, int]]:
    """Each CSS colour as the canvas paints it over the map's background (alpha blended)."""
    return [tuple(c) for c in driver.execute_script("""
        const c = document.createElement('canvas'); c.width = c.height = 1;
        const g = c.getContext('2d');
        const bg = getComputedStyle(document.documentElement).getPropertyValue('--map-bg');
        return arguments[0].map(colour => { g.fillStyle = bg; g.fillRect(0, 0, 1, 1);
            g.fillStyle = colour; g.fillRect(0, 0, 1, 1); return [...g.getImageData(0, 0, 1, 1).data.slice(0, 3)]; });""",
                                                    colours)]


def css_rgb(driver, variable: str) -> tuple[int, int, int]:
    return rendered_rgb(driver, [driver.execute_script(
        "return getComputedStyle(document.documentElement).getPropertyValue(arguments[0]).trim()", variable)])[0]


def label_boxes(driver) -> list[dict]:
    """The labels shown over the map, with the boxes the browser lays them out in (once drawn)."""
    settle(driver)
    return driver.execute_script("""
        return [...document.querySelectorAll('#labels span')].filter(e => !e.hidden).map(e => {
            const r = e.getBoundingClientRect();
            return {kind: e.className, text: e.textContent, x: r.left, y: r.top, w: r.width, h: r.height}; });""")


def assert_apart(boxes: list[dict]) -> None:
    for i, a in enumerate(boxes):
        for b in boxes[:i]:
            apart = (a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
                     or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"])
            assert apart, (a, b)


def inside(polygon, x: float, y: float) -> bool:
    hit = False
    for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1]):
        if (y0 > y) != (y1 > y) and x < (x1 - x0) * (y - y0) / (y1 - y0) + x0:
            hit = not hit
    return hit


def edge_distance(polygon, x: float, y: float) -> float:
    p = np.array([x, y], dtype=float)
    best = np.inf
    for a, b in zip(polygon, polygon[1:] + polygon[:1]):
        a, b = np.array(a, dtype=float), np.array(b, dtype=float)
        t = np.clip(np.dot(p - a, b - a) / max(np.dot(b - a, b - a), 1e-12), 0, 1)
        best = min(best, float(np.linalg.norm(p - (a + t * (b - a)))))
    return best


def drawn_marks(driver) -> list[dict]:
    """The numbered badges as last drawn; drawing waits for the next frame, so let it happen first."""
    settle(driver)
    return driver.execute_script("return window.mynaMap.state.marks")


def playlist_ids(driver) -> list[int]:
    return [int(i) for i in driver.execute_script(
        "return [...document.querySelectorAll('#playlist li')].map(li => li.dataset.id)")]


def screen_of(driver, ids) -> dict[int, tuple[float, float]]:
    return {int(k): tuple(v) for k, v in driver.execute_script(
        "return Object.fromEntries(arguments[0].map(id => [id, window.mynaMap.screenOf(id)]))", list(ids)).items()}


def click_map(driver, x: float, y: float) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    canvas = driver.find_element(By.ID, "map")
    size = canvas.size
    ActionChains(driver).move_to_element_with_offset(canvas, int(x - size["width"] / 2),
                                                     int(y - size["height"] / 2)).click().perform()


def add_by_search(driver, track) -> None:
    from selenium.webdriver.common.by import By

    search = driver.find_element(By.ID, "search")
    search.clear()
    search.send_keys(f"{track.artist} - {track.title}")
    driver.find_element(By.CSS_SELECTOR, f"#results li[data-id='{track.id}']").click()


def press(driver, keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    driver.execute_script("document.activeElement.blur()")
    ActionChains(driver).send_keys(keys).perform()


def clear_of_neighbours(driver, ids, gap: float = 10) -> list[int]:
    """Those of `ids` drawn at least `gap` pixels from every other track (a click lands on them)."""
    return driver.execute_script("""
        const m = window.mynaMap, all = m.state.map.ids.map(id => [id, m.screenOf(id)]);
        return arguments[0].filter(id => { const p = m.screenOf(id);
            return all.every(([j, q]) => j === id || Math.hypot(q[0] - p[0], q[1] - p[1]) > arguments[1]); });""",
                                 list(ids), gap)


# ---------------------------------------------------------------------------------------------


def test_colour_modes_legend_names_and_themes(browser, served) -> None:
    from selenium.webdriver.common.action_chains import ActionChains, ScrollOrigin
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, _ = browser
    root, lib, server = served
    open_page(driver, server)
    status = driver.find_element(By.ID, "status").text
    assert status.startswith(f"{len(lib.ids)} tracks · PCA · ") and "clusters" in status

    for mode, expected_groups in (("cluster", None), ("artist", len(set(lib.artist))), ("album", None)):
        Select(driver.find_element(By.ID, "colour-by")).select_by_value(mode)
        state = driver.execute_script("const s = window.mynaMap.state;"
                                      "return {groups: s.grouped.groups, colours: s.colours};")
        groups, colours = state["groups"], state["colours"]
        if expected_groups:
            assert len(groups) == expected_groups
        assert sum(g["count"] for g in groups) == len(lib.ids)
        assert [g["count"] for g in groups] == sorted((g["count"] for g in groups), reverse=True)
        image = map_pixels(driver, shot(driver, f"colour-{mode}"))
        # every group in the legend is painted, in a colour of its own
        shown = min(len(groups), 16)
        rgbs = rendered_rgb(driver, colours[:shown])
        assert len(set(rgbs)) == shown
        painted = [count(image, rgb, 12) for rgb in rgbs]
        assert min(painted) > 10, list(zip([g["name"] for g in groups], painted))
        legend = driver.execute_script(
            "return [...document.querySelectorAll('#legend-groups button')].map(b => b.textContent)")
        assert legend == [f"{g['name']} ({g['count']})" for g in groups[:shown]]
        # zoomed out: the groups' names over their regions, none overlapping
        boxes = label_boxes(driver)
        assert boxes and all(b["kind"] == "group" for b in boxes)
        assert {b["text"] for b in boxes} <= {g["name"] for g in groups} and len(boxes) >= min(3, len(groups))
        assert_apart(boxes)

    # The legend hides a group: its colour leaves the map, and its tracks can't be picked.
    Select(driver.find_element(By.ID, "colour-by")).select_by_value("cluster")
    colour0 = rendered_rgb(driver, driver.execute_script("return window.mynaMap.state.colours.slice(0, 1)"))[0]
    assert count(map_pixels(driver, shot(driver, "colour-cluster")), colour0, 12) > 50
    driver.find_element(By.CSS_SELECTOR, "#legend-groups button[data-group='0']").click()
    image = map_pixels(driver, shot(driver, "legend-hidden"))
    assert count(image, colour0, 12) < 5
    hidden = driver.execute_script("""const s = window.mynaMap.state;
        return [...s.onScreen.rows].filter(r => s.grouped.of[r] === 0).length""")
    assert hidden == 0
    assert "off" in driver.find_element(By.CSS_SELECTOR, "#legend-groups button[data-group='0']").get_attribute("class")
    driver.find_element(By.CSS_SELECTOR, "#legend-groups button[data-group='0']").click()
    assert count(map_pixels(driver, shot(driver, "colour-cluster")), colour0, 12) > 50

    # Close up (the wheel zooms at the cursor): track titles, as they are, none overlapping.
    tricky = screen_of(driver, [TRICKY_ID])[TRICKY_ID]
    canvas = driver.find_element(By.ID, "map")
    size = canvas.size
    scale = driver.execute_script("return window.mynaMap.view.scale")
    driver.execute_script("""const c = document.getElementById('map'); c.addEventListener('wheel', e => {
        const r = c.getBoundingClientRect(); window.lastWheel = [e.clientX - r.left, e.clientY - r.top]; });""")
    origin = ScrollOrigin.from_element(canvas, int(tricky[0] - size["width"] / 2), int(tricky[1] - size["height"] / 2))
    for _ in range(6):
        ActionChains(driver).scroll_from_origin(origin, 0, -300).perform()
        settle(driver)
    ratio = driver.execute_script("return window.mynaMap.view.scale") / scale
    assert ratio > 4
    moved = screen_of(driver, [TRICKY_ID])[TRICKY_ID]
    cursor = driver.execute_script("return window.lastWheel")
    for i in (0, 1):  # zoomed about the cursor: the cursor's world point stays under it
        assert abs(moved[i] - (cursor[i] + (tricky[i] - cursor[i]) * ratio)) < 3, (moved, tricky, cursor, ratio)
    # Hover: title, artist and album as they are, and the hovered track's title shown first.
    ActionChains(driver).move_to_element_with_offset(canvas, int(moved[0] - size["width"] / 2),
                                                     int(moved[1] - size["height"] / 2)).perform()
    wait_for(driver, "return !document.getElementById('tooltip').hidden", "the tooltip")
    tip = driver.execute_script("return ['tip-title', 'tip-artist', 'tip-album'].map(i => "
                                "document.getElementById(i).textContent)")
    track = lib.tracks[TRICKY_ID - 1]
    assert tip == [TRICKY_TITLE, track.artist, track.album]
    wait_for(driver, "const c = document.getElementById('tip-cover'); return !c.hidden && c.naturalWidth === 64",
             "the embedded cover in the tooltip")
    shot(driver, "hover")
    boxes = label_boxes(driver)
    labels = {t.id: f"{t.artist} - {t.title}" for t in lib.tracks}
    labels[TRICKY_ID] = f"{track.artist} - {TRICKY_TITLE}"
    assert len(boxes) >= 5 and all(b["kind"] == "title" for b in boxes)
    assert {b["text"] for b in boxes} <= set(labels.values()) and boxes[0]["text"] == labels[TRICKY_ID]
    assert_apart(boxes)
    assert driver.execute_script("return document.body.dataset.hacked") is None
    assert driver.execute_script("return document.querySelectorAll('#labels *:not(span), #labels span *, "
                                 "#tooltip img:not(#tip-cover)').length") == 0
    ActionChains(driver).move_by_offset(0, size["height"] // 2 - int(moved[1]) + 5).perform()  # off the map
    shot(driver, "titles")
    assert_apart(label_boxes(driver))

    # Dark theme, from the system's setting.
    for scheme in ("dark", "light"):
        open_page(driver, server, scheme)
        image = map_pixels(driver, shot(driver, f"theme-{scheme}"))
        corner = image[5:40, 5:40].reshape(-1, 3)
        assert (np.abs(corner - BACKGROUND[scheme]).max(axis=1) <= 2).mean() > 0.9
        colours = driver.execute_script("return window.mynaMap.state.colours")
        assert min(count(image, rgb, 12) for rgb in rendered_rgb(driver, colours)) > 10
    # ...and switching live when the system does (no reload).
    light_swatch = driver.execute_script("return document.querySelector('#legend-groups .dot').style.background")
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    wait_for(driver, "return document.querySelector('#legend-groups .dot').style.background !== arguments[0]",
             "the legend's dark colours", 30, light_swatch)
    corner = map_pixels(driver, shot(driver, "theme-dark"))[5:40, 5:40].reshape(-1, 3)
    assert (np.abs(corner - BACKGROUND["dark"]).max(axis=1) <= 2).mean() > 0.9
    assert "Shift+drag" in driver.find_element(By.ID, "keys").text


def test_lasso_extend_numbered_and_transition_path(browser, served) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver, _ = browser
    root, lib, server = served
    open_page(driver, server)
    canvas = driver.find_element(By.ID, "map")
    size = canvas.size

    # Lasso (L, then drag a loop): the tracks inside it become the playlist, in id order.
    group = driver.execute_script("return window.mynaMap.state.grouped.groups[1]")
    cx, cy = driver.execute_script("return window.mynaMap.toScreen(arguments[0], arguments[1])", group["x"], group["y"])
    # a loop around the group's label, just large enough to hold six tracks wherever the layout put them
    before = np.array(list(screen_of(driver, lib.ids.tolist()).values()), dtype=float)
    r = np.sort(np.hypot((before[:, 0] - cx) / 1.5, before[:, 1] - cy))[5] + 8
    loop = [(round(cx + 1.5 * r * np.cos(a)), round(cy + r * np.sin(a))) for a in np.linspace(0, 2 * np.pi, 13)]
    press(driver, "l")
    assert driver.find_element(By.ID, "lasso").get_attribute("aria-pressed") == "true"
    actions = ActionChains(driver).move_to_element_with_offset(canvas, loop[0][0] - size["width"] // 2,
                                                               loop[0][1] - size["height"] // 2).click_and_hold()
    for (x0, y0), (x1, y1) in zip(loop, loop[1:]):
        actions.move_by_offset(x1 - x0, y1 - y0)
    actions.release().perform()
    press(driver, "l")
    drawn = screen_of(driver, lib.ids.tolist())
    chosen = playlist_ids(driver)
    assert chosen == sorted(chosen) and len(chosen) >= 4
    for track_id, (x, y) in drawn.items():  # a pixel of rounding either way at the loop's edge
        if edge_distance(loop, x, y) > 2:
            assert (track_id in chosen) == inside(loop, x, y), (track_id, x, y)
    assert f"lasso: {len(chosen)} tracks added" in driver.find_element(By.ID, "status").text
    image = map_pixels(driver, shot(driver, "lasso"))
    blue = css_rgb(driver, "--playlist")
    assert count(image, blue, 30) > 150  # the playlist's dots and its hull's outline

    # Extend by 6: the picks appear numbered in the order the verb chose them.
    n = driver.find_element(By.ID, "n")
    n.clear()
    n.send_keys("6")
    driver.find_element(By.CSS_SELECTOR, "button[data-op='extend']").click()
    wait_for(driver, "return document.querySelectorAll('#playlist li.added').length === 6", "the extension")
    shown = playlist_ids(driver)
    picks = shown[len(chosen):]
    assert shown[:len(chosen)] == chosen and len(picks) == 6
    marks = drawn_marks(driver)
    assert [(m["n"], m["id"]) for m in marks] == list(enumerate(picks, 1))
    image = map_pixels(driver, shot(driver, "extend"))
    assert count(image, css_rgb(driver, "--added"), 30) > 6 * 40  # six badges and dots
    assert count(image, blue, 30) > 150

    # Expand and fill number their picks the same way (fill's picks are the new playlist).
    for op, k in (("expand", 3), ("fill", 5)):
        before = playlist_ids(driver)
        n.clear()
        n.send_keys(str(k))
        driver.find_element(By.CSS_SELECTOR, f"button[data-op='{op}']").click()
        wait_for(driver, "return window.mynaMap.state.lastOp === arguments[0]", op, 120, op)
        picks = driver.execute_script("return window.mynaMap.state.picks")
        marks = drawn_marks(driver)
        assert 1 <= len(picks) <= k and [(m["n"], m["id"]) for m in marks] == list(enumerate(picks, 1))
        assert playlist_ids(driver) == (before + picks if op == "expand" else picks)

    # Transition from this playlist to a target far from it: the bridge drawn as a path, numbered.
    driver.find_element(By.ID, "use-as-target").click()
    far = driver.execute_script("""const s = window.mynaMap.state, g = s.grouped.groups;
        const d = (a) => Math.hypot(a.x - g[1].x, a.y - g[1].y);
        return g.slice().sort((a, b) => d(b) - d(a))[0];""")
    members = driver.execute_script("""const s = window.mynaMap.state;
        return s.map.ids.filter((id, r) => s.grouped.groups[s.grouped.of[r]].name === arguments[0]);""", far["name"])
    driver.find_element(By.ID, "clear").click()
    start = [i for i in members if i != TRICKY_ID][:3]
    for track_id in start:
        add_by_search(driver, lib.tracks[track_id - 1])
    assert playlist_ids(driver) == start
    n.clear()
    n.send_keys("5")
    press(driver, "t")
    wait_for(driver, "return window.mynaMap.state.lastOp === 'transition'", "the transition")
    marks = drawn_marks(driver)
    bridge = driver.execute_script("return window.mynaMap.state.picks")
    assert [m["n"] for m in marks] == list(range(1, len(bridge) + 1)) and 1 <= len(bridge) <= 5
    assert playlist_ids(driver)[:3 + len(bridge)] == start + bridge
    press(driver, "z")
    image = map_pixels(driver, shot(driver, "transition"))
    assert count(image, css_rgb(driver, "--path"), 30) > 200  # the path and its numbered badges
    assert count(image, css_rgb(driver, "--target"), 30) > 50


def test_playback_follows_the_playlist(browser, served) -> None:
    from selenium.webdriver.common.by import By

    driver, _ = browser
    root, lib, server = served
    open_page(driver, server)
    for track_id in (25, 26, 27):
        add_by_search(driver, lib.tracks[track_id - 1])
    order = playlist_ids(driver)
    assert order == [25, 26, 27]
    playing = "return Number(document.getElementById('player').dataset.track)"
    driver.find_element(By.ID, "play-pause").click()  # plays the playlist from its start
    wait_for(driver, f"{playing} === 25 && !document.getElementById('player').paused", "the first track")
    driver.find_element(By.ID, "next").click()
    wait_for(driver, f"{playing} === 26", "next")
    press(driver, "p")
    wait_for(driver, f"{playing} === 25", "previous (P)")
    press(driver, "n")
    wait_for(driver, f"{playing} === 26 && document.getElementById('player').duration > 1", "next (N)")
    assert driver.find_element(By.ID, "now-playing").text == "Artist 3 - Song 26"
    assert driver.find_element(By.CSS_SELECTOR, "#playlist li.playing").get_attribute("data-id") == "26"
    # when a track ends, the next one starts
    driver.execute_script("const a = document.getElementById('player'); a.currentTime = a.duration - 0.2;")
    wait_for(driver, f"{playing} === 27", "the next track after the end", 30)
    image = map_pixels(driver, shot(driver, "playback"))
    assert count(image, css_rgb(driver, "--playlist"), 30) > 30
    press(driver, " ")
    wait_for(driver, "return document.getElementById('player').paused", "pause (Space)")


def test_make_extend_play_save_in_chromium(browser, served) -> None:
    from selenium.webdriver.common.by import By

    driver, downloads = browser
    root, lib, server = served
    open_page(driver, server)

    # Click three tracks of one artist on the canvas (ones drawn clear of their neighbours,
    # so the click lands on them and on no other).
    artist = 9
    wanted = [int(i) for i in lib.ids[np.flatnonzero(lib.artist == artist)]]
    clear = clear_of_neighbours(driver, wanted, 9)
    assert len(clear) >= 3, "the generated library draws this artist too tightly to click"
    for track_id in clear[:3]:
        click_map(driver, *screen_of(driver, [track_id])[track_id])
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
    assert labels == [f"{lib.tracks[i - 1].artist} - {lib.tracks[i - 1].title}" for i in added]
    artists = [lib.tracks[i - 1].artist for i in added]
    assert max(artists.count(a) for a in artists) <= 2
    assert "extend: 6 added" in driver.find_element(By.ID, "op-info").text

    # Play the first added track, then seek in it (the browser asks for byte ranges).
    driver.find_element(By.CSS_SELECTOR, f"#playlist li[data-id='{added[0]}'] button[title='play']").click()
    assert driver.execute_script("return document.getElementById('player').dataset.track") == str(added[0])
    wait_for(driver, "const a = document.getElementById('player'); return a.readyState >= 1 && a.duration > 1",
             "the audio's metadata")
    seeked = driver.execute_async_script("""
        const done = arguments[0], a = document.getElementById('player');
        a.pause();
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


def test_tsne_map_with_progress_and_m3u_upload_in_chromium(browser, served, tmp_path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, _ = browser
    root, lib, server = served
    open_page(driver, server)
    started = time.monotonic()
    Select(driver.find_element(By.ID, "method")).select_by_value("tsne")
    seen = set()
    while not driver.execute_script("return window.mynaMap.state.method === 'tsne' && document.body.dataset.busy !== '1'"):
        seen.add(driver.find_element(By.ID, "status").text.split(" (")[0])
        assert time.monotonic() - started < 300, seen
        time.sleep(0.05)
    if time.monotonic() - started > 2:  # the server's stage is shown while it computes
        assert f"computing the map: t-SNE of {len(lib.ids)} tracks" in seen, seen
    assert "t-SNE" in driver.find_element(By.ID, "status").text
    m3u = tmp_path / "upload.m3u8"
    files = [root / t.path.relative_to("/synthetic") for t in lib.tracks[8:12]]
    m3u.write_text("#EXTM3U\n" + "\n".join(str(f) for f in files) + "\nnot/here.flac\n", encoding="utf-8")
    driver.find_element(By.ID, "load").send_keys(str(m3u))
    wait_for(driver, "return document.querySelectorAll('#playlist li').length === 4", "the uploaded playlist")
    assert playlist_ids(driver) == [int(i) for i in lib.ids[8:12]]
    assert "4 tracks, 1 skipped" in driver.find_element(By.ID, "status").text


def test_touch_pinch_drag_and_keys(browser, served) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver, _ = browser
    _, _, server = served
    open_page(driver, server)
    left, top, width, height = driver.execute_script(
        "const r = document.getElementById('map').getBoundingClientRect(); return [r.left, r.top, r.width, r.height];")
    cx, cy = left + width / 2, top + height / 2
    view = "const v = window.mynaMap.view; return [v.scale, v.cx, v.cy];"
    scale, _, _ = driver.execute_script(view)

    def touch(kind: str, points) -> None:
        driver.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [
            {"x": x, "y": y, "id": k} for k, (x, y) in enumerate(points)]})

    touch("touchStart", [(cx - 50, cy), (cx + 50, cy)])
    for step in range(1, 11):
        touch("touchMove", [(cx - 50 - 5 * step, cy), (cx + 50 + 5 * step, cy)])
    touch("touchEnd", [])
    settle(driver)
    pinched, wx, wy = driver.execute_script(view)
    assert abs(pinched / scale - 2) < 0.1, pinched / scale  # fingers twice as far apart: twice the zoom

    touch("touchStart", [(cx, cy)])
    for step in range(1, 11):
        touch("touchMove", [(cx + 10 * step, cy + 5 * step)])
    touch("touchEnd", [])
    settle(driver)
    _, px, py = driver.execute_script(view)
    assert abs((wx - px) * pinched - 100) < 3 and abs((py - wy) * pinched - 50) < 3  # the map followed the finger
    assert driver.execute_script("return window.mynaMap.state.playlist.length") == 0  # a drag adds nothing

    # The keys listed on the page: F fits the library again, + and - zoom, arrows pan, C recolours.
    press(driver, "f")
    settle(driver)
    assert driver.execute_script(view)[0] == scale
    press(driver, "+")
    assert abs(driver.execute_script(view)[0] / scale - 1.25) < 1e-6
    press(driver, "-")
    _, x0, y0 = driver.execute_script(view)
    press(driver, Keys.ARROW_RIGHT)
    _, x1, y1 = driver.execute_script(view)
    assert x1 > x0 and y1 == y0
    for mode in ("artist", "album", "cluster"):
        press(driver, "c")
        assert driver.execute_script("return window.mynaMap.state.colourBy") == mode
        assert driver.find_element(By.ID, "colour-by").get_attribute("value") == mode
