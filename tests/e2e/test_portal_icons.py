"""The web portal of an experiment nni-nas starts shows its icons with no network (nni_nas/manager/portal_icons.js), in
a real headless Chromium that reaches 127.0.0.1 only: each icon differs, pixel for pixel, from the fallback glyph that
an icon without its font is drawn with. The same check with the served fonts blocked sees only empty boxes, so it
cannot pass by accident. The check itself is scripts/check_portal_icons.py."""

from __future__ import annotations

import importlib.util

import pytest

from nni_nas.manager.portal_icons import icon_dir, is_complete
from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location("check_portal_icons", REPO / "scripts" / "check_portal_icons.py")
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)


@pytest.mark.slow
@pytest.mark.skipif(check.find_chromium() is None,
                    reason="chromium is not installed (scripts/test.sh installs it when run as root)")
def test_the_portal_draws_its_icons_offline_and_empty_boxes_without_the_served_fonts(tmp_path, nni_experiment):
    assert is_complete(icon_dir()), "scripts/install.sh did not fetch the portal's icon font (see .venv/install.log)"
    (tmp_path / "icons.yml").write_text(check.TINY_CONFIG)
    _, port = nni_experiment(tmp_path / "icons.yml")

    served = check.check_portal_icons(port, tmp_path / "served")
    assert served["offline"], served["cdn_probe"]  # the browser could not reach the CDN
    assert served["icons"] and all(served["icons"].values()), check.report(served)  # every icon drawn
    assert served["faces"] and set(served["faces"].values()) == {"loaded"}
    assert served["icons_render"] and (tmp_path / "served" / "portal.png").stat().st_size > 10_000
    icon_requests = [(url, status) for url, status in served["font_requests"] if "fabric-icons" in url]
    assert icon_requests and all(url.startswith(f"http://127.0.0.1:{port}/nni-nas-icons/") and status == "200"
                                 for url, status in icon_requests), icon_requests  # none to the CDN

    blocked = check.check_portal_icons(port, tmp_path / "blocked", block_local_fonts=True)
    assert blocked["offline"] and blocked["icons"], check.report(blocked)
    assert not any(blocked["icons"].values()), check.report(blocked)  # each one the fallback glyph exactly
    assert set(blocked["faces"].values()) == {"error"} and not blocked["icons_render"]
