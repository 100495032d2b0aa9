"""What to do about a model that is neither cached nor reachable: in demo mode, pick a demo model (the app was
started with --demo already, so "start the app with --demo" would be no help)."""

from __future__ import annotations

from tlweb.engine.loading import offline_message


def test_the_offline_sentence_follows_demo_mode(settings):
    demo = offline_message("microsoft/resnet-50", settings.replace(demo=True))
    assert "--demo" not in demo and "marked ✓" in demo and "python -m tlweb download microsoft/resnet-50" in demo
    plain = offline_message("microsoft/resnet-50", settings.replace(demo=False))
    assert "start the app with --demo" in plain and "python -m tlweb download microsoft/resnet-50" in plain
    for text in (demo, plain):
        assert text.startswith("The model 'microsoft/resnet-50' is not in the local cache")
