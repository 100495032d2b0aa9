"""Sign in with Hugging Face in a real browser, with a stand-in profile: the app served as on a Space
with OAuth (shared mode, ``SPACE_ID`` and ``OAUTH_CLIENT_ID`` set), gradio's OAuth routes replaced by a
stand-in that signs the browser in as a chosen Hub user (the real ones talk to the Hub). A signed-in
visitor trains, reloads the page and still finds the run; another account and an anonymous visitor do not.

What the stand-in cannot show: the Hub's own login page and token exchange, and the orgs the Hub reports."""

from __future__ import annotations

import time

import pytest
from fastapi import Request

from tests.conftest import CHROMIUM, free_port
from tests.e2e.browser import idle, text_in

pytestmark = pytest.mark.browser

SIGNED_IN_AS = {"user": "ada"}  # whom the stand-in login route signs in next


def _stand_in_oauth_routes(app) -> None:
    """gradio's /login/huggingface, /login/callback and /logout, answered here instead of by the Hub:
    the signed cookie session gets the ``oauth_info`` the Hub's callback would store. (``Request`` is imported
    at module level: fastapi resolves the string annotations there.)"""
    from gradio.oauth import _redirect_to_target

    @app.get("/login/huggingface")
    async def login(request: Request):
        user = SIGNED_IN_AS["user"]
        request.session["oauth_info"] = {
            "userinfo": {"name": user.title(), "preferred_username": user, "picture": "",
                         "profile": f"https://huggingface.co/{user}", "orgs": []},
            "access_token": "hf_oauth_stand_in_" + user, "expires_at": int(time.time()) + 3600}
        return _redirect_to_target(request)

    @app.get("/logout")
    async def logout(request: Request):
        request.session.pop("oauth_info", None)
        return _redirect_to_target(request)


@pytest.fixture(scope="module")
def space_url(settings, demo_models):
    """The whole app as a Space with OAuth serves it, in-process on a free port."""
    import gradio.oauth

    from tlweb.config import SHARED, set_settings
    from tlweb.ui.app import build_app, launch_kwargs, serve_queue

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPACE_ID", "someone/tlweb")
        mp.setenv("OAUTH_CLIENT_ID", "stand-in-client")
        mp.setattr(gradio.oauth, "_add_oauth_routes", _stand_in_oauth_routes)  # on a Space (SYSTEM=spaces)
        mp.setattr(gradio.oauth, "_add_mocked_oauth_routes", _stand_in_oauth_routes)  # elsewhere (needs a Hub token)
        space = settings.replace(mode=SHARED)
        port = free_port()
        demo = build_app(space)
        set_settings(settings)  # build_app installs its settings process-wide; the other tests stay local
        serve_queue(demo, space)
        demo.launch(prevent_thread_lock=True, quiet=True, **launch_kwargs(space.replace(port=port)))
        try:
            yield f"http://localhost:{port}/"
        finally:
            demo.close()


def _visitor(browser, url: str, user: str | None):
    """A browser profile of its own (cookies apart), signed in as ``user`` through the login button."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    login = page.locator("#tl-login")
    login.wait_for()
    if user is not None:
        SIGNED_IN_AS["user"] = user
        login.click()
        page.wait_for_function("() => (document.getElementById('tl-login') || {}).innerText?.includes('Logout')",
                               timeout=30_000)
    return ctx, page


def _runs_table(page) -> str:
    """The Runs step's table as this visitor sees it, read after a refresh has finished (not after a guess)."""
    page.get_by_role("tab", name="Fine-tune").click()
    page.get_by_role("tab", name="6 · Runs").click()
    page.wait_for_selector("#ft-runs-table")
    page.click("#ft-runs-refresh")
    idle(page, "ft-runs-table", started_within=3_000)
    return page.inner_text("#ft-runs-table")


def test_a_signed_in_run_survives_a_reload_and_stays_with_its_account(browser, space_url, settings):
    from pathlib import Path

    assert Path(CHROMIUM).exists()
    ctx, page = _visitor(browser, space_url, "ada")
    try:
        assert "ada" in page.inner_text("#tl-login")  # gradio's button names who is signed in
        page.get_by_role("tab", name="Fine-tune").click()
        page.click("#ft-load-btn")
        text_in(page, "ft-data-notes", "classes", timeout=60_000)
        page.get_by_role("tab", name="2 · Backbone").click()
        page.click("#ft-model-next")
        page.wait_for_selector("#ft-start-btn", state="visible")
        page.click("#ft-start-btn")
        text_in(page, "ft-status", "Done", timeout=180_000)
        page.get_by_role("tab", name="4 · Results").click()  # a step's widgets exist once it is opened
        text_in(page, "ft-hint", "Saved as run", timeout=30_000)
        run_id = page.inner_text("#ft-hint code").strip()
        assert run_id

        from tlweb.engine import owners
        from tlweb.engine.runs import find_run

        assert owners.owner_of(find_run(run_id, settings), settings) == owners.tag("hf:ada")  # the account's

        page.reload()  # a new gradio session; the signed cookie session stays
        page.locator("#tl-login").wait_for()
        page.wait_for_function("() => (document.getElementById('tl-login') || {}).innerText?.includes('ada')")
        assert run_id in _runs_table(page)
    finally:
        ctx.close()

    other, page_b = _visitor(browser, space_url, "bob")  # another account, another profile
    try:
        assert "bob" in page_b.inner_text("#tl-login")
        assert run_id not in _runs_table(page_b)
    finally:
        other.close()

    anon, page_c = _visitor(browser, space_url, None)  # nobody signed in
    try:
        assert run_id not in _runs_table(page_c)
    finally:
        anon.close()

    back, page_d = _visitor(browser, space_url, "ada")  # ada again, in a fresh profile (another device)
    try:
        assert run_id in _runs_table(page_d)
    finally:
        back.close()
