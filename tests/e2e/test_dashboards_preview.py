"""``llmobs dashboards preview`` as a user runs it, against a real Prometheus 2.42 scraping
the PD emulator's engines and the exporter: one PNG per board, of the board's grid size;
a Prometheus that is down is one line and exit 1 with nothing written; a bad --var exit 2;
SIGTERM while a query is pending exit 130.
``render_all`` (what ``llmobs demo`` calls) on a board of its own: the variables chosen are
the ones queried, and a query Prometheus refuses is reported beside the others' data."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from matplotlib.image import imread

from llmobs import names, promql
from llmobs.dashboards import boards
from llmobs.dashboards.preview import canvas_size, render_all
from llmobs.promql.grafana import RATE_INTERVAL, matches
from llmobs.sim.config import EngineSettings
from tests.e2e.conftest import REPO, run_cli
from tests.exporterhost import ExporterHost, all_up, cluster_targets
from tests.integration.autoscaler.observing import REQUESTS, hang, load
from tests.prometheus import Prometheus
from tests.servers import HTTPServer, free_port, wait_until
from tests.simhost import SimHost

PREVIEW = (sys.executable, "-m", "llmobs", "dashboards", "preview")
PREVIEW_TIMEOUT_S = 300.0  # three boards' queries and drawings on a loaded 2-core machine


def _jobs(exporter: str, sim: SimHost) -> str:
    engines = "".join(
        f"      - {{targets: ['{t['url'].removeprefix('http://').removesuffix('/metrics')}'], "
        f"labels: {{role: {t['role']}}}}}\n"
        for t in cluster_targets(sim, "pd")
    )
    return (
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: llmobs\n    static_configs: [{{targets: ['{exporter}']}}]\n"
        f"  - job_name: vllm\n    static_configs:\n{engines}"
    )


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Prometheus holding the exporter's and the engines' series after a few requests."""
    with SimHost(EngineSettings(), roles={"prefill": 1, "decode": 1}) as sim:
        config = {"targets": cluster_targets(sim, "pd"), "interval_s": 0.5, "window_s": 60}
        with ExporterHost(config) as host:
            host.wait(all_up, "targets up")
            root = tmp_path_factory.mktemp("prometheus")
            server = Prometheus(root, _jobs(host.url.removeprefix("http://"), sim)).start()
            try:
                ttft = names.TARGET_HISTOGRAMS["ttft_seconds"].name + "_count"
                seen = promql.aggregate(promql.Agg.SUM, promql.selector(ttft, role="prefill"))

                def counted(count: int) -> Callable[[], bool]:
                    def check() -> bool:
                        found = server.query(str(seen), time.time())
                        return bool(found) and float(found[0]["value"][1]) == count

                    return check

                # the counters are seen at 0 first, so that their increase is a rate
                wait_until(counted(0), 60, "Prometheus to hold the idle engines", server.log)
                load(sim)
                wait_until(counted(REQUESTS), 60, "Prometheus to hold every request", server.log)
                yield server
            finally:
                server.stop()


def test_one_png_per_board_of_the_boards_grid_size(prometheus: Prometheus, tmp_path: Path) -> None:
    out = tmp_path / "previews"
    done = run_cli(
        "dashboards",
        "preview",
        "--prometheus",
        prometheus.url,
        "--duration",
        "120",
        "--scrape-interval",
        "1",
        "--var",
        "role=All",
        "--out",
        str(out),
        timeout=PREVIEW_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    every = boards()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        Path(name).with_suffix(".png").name for name in every
    )
    for name, board in every.items():
        path = out / Path(name).with_suffix(".png").name
        assert str(path) in done.stdout
        width, height = canvas_size(board)
        assert path.stat().st_size > 10_000
        assert imread(path).shape[:2] == (height, width)
    serving = next(line for line in done.stdout.splitlines() if "llmobs-serving" in line)
    empty = re.search(r"\((\d+) of (\d+) queries returned no data\)", serving)
    assert empty is None or int(empty[1]) < int(empty[2]), serving  # the load is drawn


@pytest.mark.parametrize("userinfo", ["", "user:s3cret@"])
def test_a_prometheus_that_is_down_is_one_line_and_exit_1(tmp_path: Path, userinfo: str) -> None:
    address = f"127.0.0.1:{free_port()}"
    url = f"http://{userinfo}{address}"
    done = run_cli("dashboards", "preview", "--prometheus", url, "--out", str(tmp_path / "p"))
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: ") and address in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert "s3cret" not in done.stderr + done.stdout  # a password is used, never shown
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize(
    ("var", "words"),
    [("role", "expected NAME=VALUE"), ("no_such=1", "no board has a variable 'no_such'")],
)
def test_a_bad_var_is_exit_2(tmp_path: Path, var: str, words: str) -> None:
    done = run_cli(
        "dashboards",
        "preview",
        "--prometheus",
        f"http://127.0.0.1:{free_port()}",
        "--var",
        var,
        "--out",
        str(tmp_path / "p"),
    )
    assert done.returncode == 2, done.stderr
    assert words in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "p").exists()


def _board() -> dict[str, object]:
    requests = names.TARGET_HISTOGRAMS["ttft_seconds"].name + "_count"
    rated = promql.rate(promql.selector(requests, matches(names.ROLE)), RATE_INTERVAL)
    role = {"name": names.ROLE, "type": "custom", "query": "prefill,decode", "multi": True}
    grid = {"x": 0, "y": 0, "w": 12, "h": 8}
    return {
        "title": "Own board",
        "uid": "own",
        "templating": {"list": [role]},
        "panels": [
            {
                "id": 1,
                "type": "timeseries",
                "title": "Requests / s",
                "gridPos": grid,
                "targets": [
                    {
                        "refId": "A",
                        "expr": str(promql.aggregate(promql.Agg.SUM, rated, (names.ROLE,))),
                        "legendFormat": "{{role}}",
                    }
                ],
            },
            {
                "id": 2,
                "type": "stat",
                "title": "Broken",
                "gridPos": {**grid, "x": 12},
                "targets": [{"refId": "A", "expr": "sum(("}],
            },
        ],
    }


def test_render_all_queries_the_chosen_values(prometheus: Prometheus, tmp_path: Path) -> None:
    (shown,) = render_all(
        prometheus.url,
        tmp_path,
        variables={names.ROLE: ["decode"]},
        duration=60,
        boards={"own.json": _board()},
        scrape_interval=1,
    )
    assert shown.path == tmp_path / "own.png" and shown.path.stat().st_size > 0
    good, broken = shown.results
    assert [dict(s.labels) for s in good.series] == [{names.ROLE: "decode"}]
    assert any(v is not None and v > 0 for _, v in good.series[0].points)
    assert broken.series == () and broken.error is not None
    assert shown.errors == (f"Broken: {broken.error}",) and shown.empty == 0


def test_sigterm_while_querying_is_exit_130_and_writes_nothing(tmp_path: Path) -> None:
    asked = threading.Event()

    async def never_answers(request: web.Request) -> web.Response:
        asked.set()
        return await hang(request)

    with HTTPServer({"/{tail:.*}": never_answers}) as server:
        out = tmp_path / "p"
        proc = subprocess.Popen(
            [*PREVIEW, "--prometheus", server.url(""), "--out", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        try:
            wait_until(lambda: asked.is_set() or proc.poll() is not None, 60, "the first query")
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("interrupted") and "Traceback" not in err
    assert not out.exists() or not list(out.iterdir())
