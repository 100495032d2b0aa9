"""Small Playwright helpers shared by the browser tests."""

from __future__ import annotations


def set_dropdown(page, elem_id: str, value: str) -> None:
    """Type into a filterable gr.Dropdown and pick the first match."""
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(value)
    box.press("Enter")
    page.locator("body").click(position={"x": 5, "y": 5})  # close the list


def text_in(page, elem_id: str, text: str, timeout: int = 60_000) -> None:
    """Wait until the element's visible text contains ``text``."""
    page.wait_for_function(
        "([id, t]) => { const el = document.getElementById(id); return el && el.innerText.includes(t); }",
        arg=[elem_id, text], timeout=timeout)


def bottom(page, selector: str) -> float:
    """Page coordinate (not viewport) of an element's bottom edge."""
    return page.locator(selector).first.evaluate("e => e.getBoundingClientRect().bottom + window.scrollY")


def idle(page, elem_id: str, timeout: int = 60_000, started_within: int = 0) -> None:
    """Wait until gradio shows no pending work on the element (no "processing" tracker).

    ``started_within``: first give a just-triggered event this many ms to show its tracker,
    so a run that has not started yet is not mistaken for one that has finished."""
    if started_within:
        try:
            page.wait_for_function(
                "(id) => { const el = document.getElementById(id); return el && el.innerText.includes('processing'); }",
                arg=elem_id, timeout=started_within)
        except Exception:  # noqa: BLE001 - it may have started and finished already
            pass
    page.wait_for_function(
        "(id) => { const el = document.getElementById(id); return el && !el.innerText.includes('processing'); }",
        arg=elem_id, timeout=timeout)
