"""``llmobs dashboards preview`` against a Prometheus behind basic auth (a real server on
127.0.0.1 that answers only with the right credentials): the ``user:password@`` in
``--prometheus`` is sent and every board is drawn; wrong credentials are one line, exit 1;
and neither the password nor its header is ever printed, even where the server echoes them
back in its errors."""

from __future__ import annotations

import base64
import itertools
from pathlib import Path

import pytest
from aiohttp import web

from llmobs.dashboards import boards
from tests.e2e.conftest import run_cli
from tests.servers import HTTPServer

USER, PASSWORD = "grafana", "pr0m-s3cret"
HEADER = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
PREVIEW_TIMEOUT_S = 300.0  # three boards' drawings on a loaded 2-core machine


def _prometheus(refuse_every: int | None) -> HTTPServer:
    """A Prometheus API behind basic auth: 401 (echoing what it was sent) without USER and
    PASSWORD; with them, label values and a flat series for every query, but for every
    ``refuse_every``-th query, refused with the credentials it was sent in the error."""
    count = itertools.count(1)

    async def handler(request: web.Request) -> web.Response:
        sent = request.headers.get("Authorization", "")
        if sent != HEADER:
            return web.Response(status=401, text=f"Unauthorized: {sent}")
        if request.path.startswith("/api/v1/label/"):
            return web.json_response({"status": "success", "data": ["decode", "prefill"]})
        form = await request.post()
        if refuse_every is not None and next(count) % refuse_every == 0:
            error = f"denied {sent} ({USER}:{PASSWORD})"
            return web.json_response(
                {"status": "error", "errorType": "bad_data", "error": error}, status=400
            )
        if request.path == "/api/v1/query":
            data = {"resultType": "vector", "result": [{"metric": {}, "value": [0, "1"]}]}
        else:
            start, end = float(str(form["start"])), float(str(form["end"]))
            points = [[start, "1"], [end, "2"]]
            data = {"resultType": "matrix", "result": [{"metric": {}, "values": points}]}
        return web.json_response({"status": "success", "data": data})

    return HTTPServer({"/{tail:.*}": handler})


def _preview(port: int, password: str, out: Path) -> tuple[int, str, str]:
    url = f"http://{USER}:{password}@127.0.0.1:{port}"
    done = run_cli(
        *("dashboards", "preview", "--prometheus", url, "--scrape-interval", "1"),
        *("--duration", "60", "--out", str(out)),
        timeout=PREVIEW_TIMEOUT_S,
    )
    shown = done.stdout + done.stderr
    assert PASSWORD not in shown and HEADER.split()[1] not in shown, shown
    assert "Traceback" not in shown, shown
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("refuse_every", [None, 7])
def test_credentials_in_the_url_draw_every_board_and_are_never_shown(
    tmp_path: Path, refuse_every: int | None
) -> None:
    with _prometheus(refuse_every) as server:
        code, out, err = _preview(server.port, PASSWORD, tmp_path / "p")
    drawn = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert drawn == sorted(Path(name).with_suffix(".png").name for name in boards())
    if refuse_every is None:
        assert code == 0 and err == "", err
        assert "queries returned no data" not in out
    else:
        assert code == 1, err
        refused = [line for line in err.splitlines() if "bad_data: denied" in line]
        assert refused and all(f"<secret> ({USER}:<secret>)" in line for line in refused)
        assert err.splitlines()[-1].startswith(f"error: http://{USER}:<secret>@127.0.0.1:")


def test_wrong_credentials_are_one_line_and_exit_1(tmp_path: Path) -> None:
    with _prometheus(None) as server:
        code, out, err = _preview(server.port, "not-" + PASSWORD, tmp_path / "p")
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        f"error: Prometheus at http://{USER}:<secret>@127.0.0.1:{server.port}: HTTP 401 "
        "(the user and password in the URL were refused)"
    ]
    assert not (tmp_path / "p").exists()
