"""``mle3 serve``: the JSON API, its security, and the pages in Debian's chromium while a
worker trains a queued run."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import check_json

pytestmark = pytest.mark.slow

ENV = dict(os.environ, YOLO_OFFLINE="1", YOLO_AUTOINSTALL="false", PYTHONUNBUFFERED="1")
MLE3 = [sys.executable, "-c", "from mle3.cli import run; run()"]


def queue_ws(root: Path) -> Path:
    from conftest import queue_ws as make

    return make(root)


def fake_run(
    root: Path, run_id: str, config: str, status: str = "success", created: str = "2026-01-01T00:00:00+00:00"
) -> None:
    folder = root / "artifacts" / "runs" / run_id
    folder.mkdir(parents=True)
    (folder / "run.yaml").write_text(
        yaml.safe_dump(
            {
                "run": {
                    "id": run_id,
                    "config": config,
                    "status": status,
                    "created": created,
                    "parameters": {"epochs": 10},
                    "epochs_completed": 10 if status == "success" else 3,
                }
            }
        )
    )


@pytest.fixture
def client(tmp_path):
    from starlette.testclient import TestClient

    from mle3.serve.app import create_app

    root = queue_ws(tmp_path / "ws")
    for i in range(60):
        fake_run(
            root,
            f"RUN-20260101-0000{i:02d}-aaaa",
            "TINY-TRAIN-001" if i % 2 else "OTHER-CFG",
            "success" if i % 3 else "failed",
            f"2026-01-01T00:00:{i:02d}+00:00",
        )
    return root, TestClient(create_app(root, "secret-token"), base_url="http://127.0.0.1:8000")


def test_api_lists_searches_filters_and_pages_runs(client):
    root, c = client
    doc = c.get("/api/runs").json()
    assert (
        doc["total"] == 60 and len(doc["runs"]) == 50 and doc["runs"][0]["id"] == "RUN-20260101-000059-aaaa"
    )  # newest first, 50 a page
    assert len(c.get("/api/runs?page=2").json()["runs"]) == 10
    assert {r["config"] for r in c.get("/api/runs?q=other").json()["runs"]} == {"OTHER-CFG"}
    failed = c.get("/api/runs?status=failed").json()
    assert failed["total"] == 20 and {r["effective_status"] for r in failed["runs"]} == {"failed"}
    assert c.get("/api/runs?status=bogus").status_code == 400
    one = c.get("/api/runs/RUN-20260101-000001-aaaa").json()
    assert {"id", "config", "status", "epoch", "epochs", "started", "duration_s", "metrics"} <= set(one)
    # a run recorded after the server started appears (the change log, no rescan)
    from mle3.runs.records import note_change

    fake_run(root, "RUN-20260102-000000-bbbb", "LATE-CFG", created="2026-01-02T00:00:00+00:00")
    note_change(root, "RUN-20260102-000000-bbbb")
    time.sleep(0.6)
    assert c.get("/api/runs").json()["runs"][0]["id"] == "RUN-20260102-000000-bbbb"


def test_security_token_csp_and_run_ids(client):
    root, c = client
    page = c.get("/")
    assert (
        "script-src 'self'" in page.headers["content-security-policy"]
        and page.headers["x-content-type-options"] == "nosniff"
    )
    assert '<script src="/static/serve.js"></script>' in page.text and "<script>" not in page.text
    target = "/api/runs/RUN-20260101-000003-aaaa/rerun"  # a failed run of an existing configuration
    assert c.post(target).status_code == 401
    assert c.post(target, headers={"X-MLE3-Token": "wrong"}).status_code == 403
    ok = c.post(target, headers={"X-MLE3-Token": "secret-token"})
    assert ok.status_code == 200 and ok.json()["rerun_of"] == "RUN-20260101-000003-aaaa"
    for bad in ("..%2F..%2Fmle3.yaml", "..", "RUN%00x", "%3Cscript%3E"):
        assert c.get(f"/api/runs/{bad}").status_code == 404
        assert c.post(f"/api/runs/{bad}/abort", headers={"X-MLE3-Token": "secret-token"}).status_code in (404, 405)
    assert c.get("/static/../mle3.yaml").status_code == 404


def test_serve_refuses_a_remote_host_without_allow_remote_and_writes_a_private_token(tmp_path, cli):
    root = queue_ws(tmp_path / "ws")
    code, _, err = cli("serve", "--host", "0.0.0.0", "-w", root, expect=2)
    assert code == 2 and "--allow-remote" in err and err.count("\n") == 1
    from mle3.serve.app import TOKEN_FILE, write_token

    token = write_token(root)
    mode = stat.S_IMODE(os.stat(root / TOKEN_FILE).st_mode)
    assert mode == 0o600 and (root / TOKEN_FILE).read_text().strip() == token


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, seconds: float = 30) -> None:
    import socket

    deadline = time.time() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def test_live_training_in_the_browser(tmp_path, cli, browser):
    """A queued training's progress bar and loss chart advance while a worker trains it;
    search and filter; abort from the page; a <script> configuration id shows as text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    root = queue_ws(tmp_path / "ws")
    fake_run(root, "RUN-20250101-000000-cccc", "<script>document.title='pwned'</script>", "failed")
    code, out, _ = cli("train", "TINY-TRAIN-001", "--queue", "--epochs", "400", "-w", root, "--format", "json")
    run_id = json.loads(out)["run"]
    port = _free_port()
    server = subprocess.Popen(
        MLE3 + ["serve", "--port", str(port), "-w", str(root)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    worker = None
    try:
        line = server.stdout.readline()
        token = line.split("#token=")[1].split(";")[0].strip(") ")
        base = f"http://127.0.0.1:{port}"
        _wait_listening(port)  # the line is printed as the server starts; under load it listens a moment later
        browser.get(f"{base}/runs/{run_id}#token={token}")
        assert browser.find_element(By.ID, "run-id").text == run_id
        deadline = time.time() + 10
        while time.time() < deadline and not browser.find_elements(By.CSS_SELECTOR, "#mapping tbody tr"):
            time.sleep(0.2)
        assert "optimizer" in browser.find_element(By.ID, "mapping").text  # the mapping table of the run
        worker = subprocess.Popen(
            MLE3 + ["worker", "--once", "-w", str(root)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

        from selenium.common.exceptions import StaleElementReferenceException

        def fresh(read):  # the page redraws its charts on every event: read again what was replaced meanwhile
            for _ in range(20):
                try:
                    return read()
                except StaleElementReferenceException:
                    time.sleep(0.05)
            return read()

        def progress() -> float:
            return fresh(lambda: float(browser.find_element(By.ID, "progress").get_attribute("value") or 0))

        def loss_points() -> int:
            def read() -> int:
                lines = browser.find_elements(By.CSS_SELECTOR, "#chart-loss polyline[data-series='train_box_loss']")
                return len(lines[0].get_attribute("points").split()) if lines else 0

            return fresh(read)

        deadline = time.time() + 180
        while time.time() < deadline and loss_points() < 2:
            time.sleep(0.3)
        first_points, first_progress = loss_points(), progress()
        assert first_points >= 2 and first_progress > 0
        deadline = time.time() + 60
        # both move (the loss chart may take a batch's point before the bar takes the epoch's)
        while time.time() < deadline and not (loss_points() > first_points and progress() > first_progress):
            time.sleep(0.3)
        assert loss_points() > first_points and progress() > first_progress  # it moves without a reload
        # abort from the page (the token came in the link's fragment)
        browser.find_element(By.ID, "abort").click()
        deadline = time.time() + 60
        while time.time() < deadline and browser.find_element(By.ID, "status").text != "terminated":
            time.sleep(0.3)
        assert browser.find_element(By.ID, "status").text == "terminated"
        record = yaml.safe_load((root / "artifacts" / "runs" / run_id / "run.yaml").read_text())["run"]
        assert record["status"] == "terminated" and "abort" in record["error"]
        assert browser.find_element(By.ID, "rerun").is_enabled()
        # the training list: search and filter; the hostile configuration id is text
        browser.get(base + "/")
        deadline = time.time() + 10
        while time.time() < deadline and len(browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")) < 2:
            time.sleep(0.2)
        configs = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#runs tbody td.config")]
        assert "<script>document.title='pwned'</script>" in configs and browser.title != "pwned"
        box = browser.find_element(By.ID, "q")
        box.send_keys(run_id[-4:])
        time.sleep(1.0)
        rows = browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
        assert [r.get_attribute("data-run") for r in rows] == [run_id]
        box.clear()
        box.send_keys(" ")
        Select(browser.find_element(By.ID, "status")).select_by_value("failed")
        time.sleep(1.0)
        rows = browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
        assert [r.get_attribute("data-run") for r in rows] == ["RUN-20250101-000000-cccc"]
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        if worker is not None:
            worker.kill()
        server.terminate()
        server.wait(timeout=30)
    assert check_json(cli, root)[0] in (0, 1)


def test_the_change_log_starts_over_and_the_index_misses_nothing(tmp_path, monkeypatch):
    from mle3.monitor.index import RunIndex
    from mle3.runs import records

    monkeypatch.setattr(records, "CHANGES_MAX_BYTES", 300)
    root = tmp_path / "ws"
    (root / ".mle3").mkdir(parents=True)
    for i in range(5):
        fake_run(root, f"RUN-20260101-00000{i}-eeee", "CFG", "in_progress")
    index = RunIndex(root)
    log = root / records.CHANGES_FILE
    while not log.exists() or log.stat().st_size < 280:  # the index keeps up with a log near its limit
        records.note_change(root, "RUN-20260101-000000-eeee")
        index.refresh()
    path = root / "artifacts" / "runs" / "RUN-20260101-000003-eeee" / "run.yaml"
    path.write_text(path.read_text().replace("in_progress", "success"))
    records.note_change(root, "RUN-20260101-000003-eeee")  # this line lands in the log that is rolled over
    assert (root / (records.CHANGES_FILE + ".1")).is_file() and not log.exists()
    records.note_change(root, "RUN-20260101-000000-eeee")  # a new, short log
    index.refresh()
    assert index.get("RUN-20260101-000003-eeee")["status"] == "success"


def test_the_log_tail_has_no_terminal_escapes_and_only_the_last_state_of_a_redrawn_line():
    from mle3.monitor.live import readable_log

    raw = "\x1b[34m\x1b[1mtrain: \x1b[0mScanning 1/2\r\x1b[Ktrain: Scanning 2/2 100%\nepoch 1/2 loss 3.1\n"
    assert readable_log(raw) == "train: Scanning 2/2 100%\nepoch 1/2 loss 3.1\n"


def test_a_run_record_of_another_shape_is_listed_unreadable_not_a_crash(tmp_path):
    from mle3.monitor.index import RunIndex

    for run_id, text in (
        ("RUN-20260101-000000-aaaa", "run: [1, 2]\n"),
        (
            "RUN-20260101-000000-bbbb",
            "run:\n  id: RUN-20260101-000000-bbbb\n  config: X\n  status: success\n  parameters: [1]\n  "
            "epochs_completed: x\n",
        ),
    ):
        (tmp_path / "artifacts/runs" / run_id).mkdir(parents=True)
        (tmp_path / "artifacts/runs" / run_id / "run.yaml").write_text(text)
    index = RunIndex(tmp_path)
    index.refresh()
    total, runs = index.query()
    # read by the one run reader, as `mle3 runs` reads them: a field of the wrong type makes the
    # record unreadable (named with file, line and field), never a crash of /api/runs
    by_id = {r["id"]: r for r in runs}
    assert total == 2 and {k: r["effective_status"] for k, r in by_id.items()} == {
        "RUN-20260101-000000-aaaa": "unreadable",
        "RUN-20260101-000000-bbbb": "unreadable",
    }
    assert (
        "run.yaml:6: run.epochs_completed must be a non-negative integer" in by_id["RUN-20260101-000000-bbbb"]["error"]
    )
