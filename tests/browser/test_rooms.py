"""A class in real browsers: the teacher's wall and three students (one a phone drawn on with a finger).

Each person is a separate browser context (their own cookies), as on separate devices.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.pictures import draw_digit, png_bytes

from .helpers import draw_with_finger, draw_with_mouse, expect_no_prediction, expect_prediction, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]
# The README's wall pictures are refreshed only when asked (UPDATE_SCREENSHOTS=1): a test run never edits docs/.
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / (
    "docs/screenshots" if os.environ.get("UPDATE_SCREENSHOTS") else "test-artifacts/screenshots")


def person(browser: Browser, problems, phone: bool = False, **options) -> tuple[BrowserContext, Page]:
    if phone:
        options |= {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "has_touch": True,
                    "is_mobile": True}
    context = browser.new_context(**({"viewport": {"width": 1280, "height": 800}} | options))
    context.set_default_timeout(15_000)
    # The 403 and 404 answers that the tests ask for show up as console errors too.
    page = problems.watch(context.new_page(), allow=("status of 403", "status of 404"))
    page.on("dialog", lambda dialog: dialog.accept())  # the teacher confirms "remove" and "end class"
    return context, page


def start_class(page: Page, base_url: str) -> str:
    page.goto(base_url + "/")
    page.get_by_role("link", name="Start a class").click()
    page.wait_for_url(re.compile(r"/class/[A-Z0-9]+$"))
    expect(page.get_by_test_id("status")).to_contain_text("live", timeout=20_000)
    return page.get_by_test_id("room-code").inner_text().strip()


def join(page: Page, base_url: str, code: str, name: str = "") -> None:
    open_page(page, f"{base_url}/join/{code.lower()}" + (f"?name={name}" if name else ""))
    expect(page.get_by_test_id("class-status")).to_contain_text("you are", timeout=20_000)


def tile(wall: Page, student_page: Page):
    student = student_page.evaluate("() => document.body.dataset.visit")
    assert student
    name = student_page.get_by_test_id("class-status").inner_text()
    shown = re.search(r"you are (.+?) ·", name).group(1)
    return wall.get_by_test_id("wall-tile").filter(has=wall.locator(".tile-name", has_text=shown))


def test_a_lesson(browser: Browser, base_url: str, problems) -> None:
    contexts: list[BrowserContext] = []
    try:
        context, wall = person(browser, problems, viewport={"width": 1920, "height": 1080})
        contexts.append(context)
        code = start_class(wall, base_url)
        assert re.fullmatch(r"[A-Z2-9]{5}", code) and not set("0O1I") & set(code)
        join_url = wall.get_by_test_id("join-url").inner_text().strip()
        assert join_url.endswith(f"/join/{code}")
        qr = wall.get_by_test_id("join-qr")
        expect(qr).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
        assert qr.bounding_box()["width"] >= 200, "big enough to scan from the back of the room"
        expect(wall.get_by_test_id("student-count")).to_contain_text("0")

        students = []
        for name, phone in (("Ada", False), ("", False), ("Grace", True)):
            ctx, page = person(browser, problems, phone=phone)
            contexts.append(ctx)
            join(page, base_url, code, name)
            students.append(page)
        ada, anonymous, grace = students
        expect(anonymous.get_by_test_id("class-status")).to_contain_text("Student 2")
        expect(wall.get_by_test_id("student-count")).to_contain_text("3 students")
        expect(wall.get_by_test_id("wall-tile")).to_have_count(3)
        ids = wall.get_by_test_id("wall-tile").evaluate_all("tiles => tiles.map(t => t.dataset.student)")
        assert len(set(ids)) == 3 and all(ids)
        names = wall.locator(".tile-name").all_inner_texts()
        assert names == ["Ada", "Student 2", "Grace"], "tiles in the order students joined"

        # The wall follows each student's live prediction.
        draw_with_mouse(ada, 7)
        expect_prediction(ada, 7)
        draw_with_mouse(anonymous, 1)
        expect_prediction(anonymous, 1)
        draw_with_finger(grace, grace.context.new_cdp_session(grace), 4)
        expect_prediction(grace, 4)
        for page, digit in ((ada, 7), (anonymous, 1), (grace, 4)):
            expect(tile(wall, page)).to_have_attribute("data-digit", str(digit), timeout=10_000)
        expect(tile(wall, ada).locator(".tile-input")).to_have_attribute("src", re.compile("^data:image/png"))
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        grace.screenshot(path=str(DOCS_SCREENSHOTS / "class-phone.png"))
        assert wall.get_by_test_id("wall-tile").evaluate_all("ts => ts.map(t => t.dataset.student)") == ids

        # Spotlight, by keyboard: Ada's drawing fills the projector, and stays live.
        tile(wall, ada).locator(".tile-open").focus()
        wall.keyboard.press("Enter")
        spotlight = wall.get_by_test_id("spotlight")
        expect(spotlight).to_be_visible()
        expect(spotlight).to_have_attribute("data-digit", "7")
        expect(spotlight.locator("[data-digit][data-probability]")).to_have_count(3)
        ada.get_by_test_id("clear").click()
        draw_with_mouse(ada, 4)
        expect_prediction(ada, 4)
        expect(spotlight).to_have_attribute("data-digit", "4", timeout=10_000)
        wall.keyboard.press("Escape")
        expect(spotlight).to_be_hidden()

        # A challenge: "everyone draw a 4". Grace and Ada's drawings read 4, Student 2 draws a 7.
        wall.get_by_test_id("ask-4").click()
        expect(wall.get_by_test_id("challenge-banner")).to_have_text("Everyone draw a 4")
        for page, digit in ((ada, 4), (anonymous, 7), (grace, 4)):
            page.get_by_test_id("clear").click()
            if page is grace:
                draw_with_finger(grace, grace.context.new_cdp_session(grace), 4)
            else:
                draw_with_mouse(page, digit)
            expect_prediction(page, digit)
            expect(tile(wall, page)).to_have_attribute("data-digit", str(digit), timeout=10_000)
        expect(wall.get_by_test_id("challenge-live")).to_contain_text("2 of 3 read as 4")
        wall.get_by_test_id("challenge-close").click()
        expect(wall.get_by_test_id("challenge-result")).to_contain_text("2 of 3 read as 4")
        expect(wall.get_by_test_id("misread").locator("figure")).to_have_count(1)
        expect(wall.get_by_test_id("misread").locator("figure")).to_have_attribute("data-digit", "7")
        cells = wall.get_by_test_id("confusion").locator("td")
        expect(cells.nth(4 * 10 + 4)).to_have_attribute("data-count", "2")
        expect(cells.nth(4 * 10 + 7)).to_have_attribute("data-count", "1")
        with wall.expect_download() as download:
            wall.get_by_test_id("export-csv").click()
        csv_text = Path(download.value.path()).read_text()
        assert csv_text.splitlines()[5].split(",")[5] == "2"

        wall.evaluate("() => { document.activeElement?.blur(); "
                      "document.querySelectorAll('*').forEach(e => { e.scrollTop = 0; }); }")
        wall.screenshot(path=str(DOCS_SCREENSHOTS / "wall-1920.png"))
        wall.set_viewport_size({"width": 1024, "height": 768})
        wall.screenshot(path=str(DOCS_SCREENSHOTS / "wall-1024.png"))
        assert wall.evaluate("() => document.documentElement.scrollWidth") <= 1024, "no sideways scrolling"

        # Students only ever get their own answers, and cannot use the teacher's controls.
        answer = ada.evaluate("""code => new Promise(resolve => window.digits.live.socket.emit(
            'room_control', {code, action: 'close'}, resolve))""", code)
        assert answer["ok"] is False and answer["error"]["code"] == "forbidden"
        answer = ada.evaluate("""code => new Promise(resolve => window.digits.live.socket.emit(
            'wall_join', {code}, resolve))""", code)
        assert answer["ok"] is False
        assert requests.get(f"{base_url}/class/{code}", timeout=10).status_code == 403
        ctx, stranger = person(browser, problems)
        contexts.append(ctx)
        assert stranger.goto(f"{base_url}/class/{code}").status == 403
        expect(stranger.get_by_test_id("room-problem")).to_contain_text("teacher")

        # Moderation: hide a tile, remove a student, lock the room, blank the wall, end the class.
        tile(wall, anonymous).locator(".tile-hide").click()
        expect(tile(wall, anonymous)).to_have_attribute("data-hidden", "true")
        expect(tile(wall, anonymous).locator(".tile-input")).not_to_have_attribute("src", re.compile("."))
        grace_tile = tile(wall, grace)
        grace_tile.locator(".tile-remove").click()
        expect(wall.get_by_test_id("wall-tile")).to_have_count(2)
        expect(grace.get_by_test_id("class-status")).to_contain_text("removed")
        grace.reload()
        expect(grace.get_by_test_id("class-status")).to_contain_text("you are")  # a new visit may come back...
        expect(wall.get_by_test_id("wall-tile")).to_have_count(3)
        wall.get_by_test_id("lock").click()
        expect(wall.get_by_test_id("lock")).to_have_attribute("aria-pressed", "true")
        ctx, late = person(browser, problems)
        contexts.append(ctx)
        open_page(late, f"{base_url}/join/{code}")
        expect(late.get_by_test_id("class-status")).to_contain_text("locked")  # ...unless the room is locked
        expect(wall.get_by_test_id("wall-tile")).to_have_count(3)
        wall.get_by_test_id("blank").click()
        expect(wall.get_by_test_id("blank-screen")).to_be_visible()
        wall.get_by_test_id("blank").evaluate("b => b.click()")  # under the blank screen
        expect(wall.get_by_test_id("blank-screen")).to_be_hidden()
        wall.get_by_test_id("close-room").click()
        expect(ada.get_by_test_id("class-status")).to_contain_text("ended")
        expect(ada.get_by_test_id("status")).to_contain_text("live")  # the page goes on working alone
        assert wall.goto(f"{base_url}/class/{code}").status == 404
    finally:
        for context in contexts:
            context.close()


def test_unknown_code_gets_a_friendly_page(browser: Browser, base_url: str, problems) -> None:
    context, page = person(browser, problems)
    response = page.goto(base_url + "/join/ZZZZZ")
    assert response.status == 404
    expect(page.get_by_test_id("room-problem")).to_contain_text("No such class")
    expect(page.get_by_test_id("join-code")).to_be_visible()  # try another code right there
    assert page.goto(base_url + "/class/ZZZZZ").status == 404
    context.close()


def test_join_by_typing_the_code_on_the_main_page(browser: Browser, base_url: str, problems) -> None:
    teacher, wall = person(browser, problems)
    student, page = person(browser, problems, phone=True)
    try:
        code = start_class(wall, base_url)
        open_page(page, base_url + "/")
        page.get_by_test_id("join-code").fill(code.lower())
        page.get_by_label("Your name (optional)").fill("Linus")
        page.get_by_role("button", name="Join").click()
        expect(page.get_by_test_id("class-status")).to_contain_text("you are Linus", timeout=20_000)
        expect(wall.locator(".tile-name")).to_have_text(["Linus"])
    finally:
        teacher.close()
        student.close()


@pytest.fixture
def wall_and_student(browser: Browser, base_url: str, problems):
    """A teacher's wall and one student's page joined to its class."""
    teacher, wall = person(browser, problems)
    student, page = person(browser, problems)
    try:
        join(page, base_url, start_class(wall, base_url))
        yield wall, page
    finally:
        teacher.close()
        student.close()


def draw_and_see_on_the_wall(wall: Page, page: Page, digit: int) -> None:
    draw_with_mouse(page, digit)
    expect_prediction(page, digit)
    expect(tile(wall, page)).to_have_attribute("data-digit", str(digit), timeout=10_000)


def test_a_cleared_pad_empties_the_students_tile(wall_and_student) -> None:
    wall, page = wall_and_student
    draw_and_see_on_the_wall(wall, page, 7)
    page.get_by_test_id("clear").click()
    expect_no_prediction(page)
    expect(tile(wall, page)).to_have_attribute("data-digit", "", timeout=10_000)
    expect(tile(wall, page).locator(".tile-digit")).to_have_text("")


def test_an_uploaded_picture_reaches_the_wall(wall_and_student) -> None:
    wall, page = wall_and_student
    draw_and_see_on_the_wall(wall, page, 1)
    # A file that is not a picture is refused over the socket (no HTTP 400 logged) and costs nothing.
    page.get_by_test_id("upload").set_input_files({"name": "notes.png", "mimeType": "image/png",
                                                   "buffer": b"this is not a picture"})
    expect(page.get_by_role("alert")).to_contain_text(re.compile(r"not an image", re.IGNORECASE))
    expect(page.get_by_test_id("prediction")).to_have_text("1")
    expect(tile(wall, page)).to_have_attribute("data-digit", "1")
    picture = png_bytes(draw_digit(4, size=200, ink=(30, 30, 120, 255), background=(250, 245, 230, 255)))
    page.get_by_test_id("upload").set_input_files({"name": "four.png", "mimeType": "image/png", "buffer": picture})
    expect(page.locator("#upload-preview")).to_be_visible()
    expect_prediction(page, 4)
    expect(tile(wall, page)).to_have_attribute("data-digit", "4", timeout=10_000)
    # Clearing the picture empties the tile too.
    page.get_by_test_id("clear").click()
    expect(tile(wall, page)).to_have_attribute("data-digit", "", timeout=10_000)
