"""Secrets in the config never reach any output: stdout, stderr, logs, run_dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.reddit_api_server import RedditApiServer, make_submission

REPO = Path(__file__).resolve().parents[1]
CLIENT_ID = "cfg-client-id-7f3a"
SECRET = "cfg-s3cr3t-Never-Echo-Me"


def webtext(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDDIT_CLIENT")}
    env.update(REDDIT_USER_AGENT="webtext-tests/0.1", PYTHONPATH=str(REPO))
    env.update(RAY_USAGE_STATS_ENABLED="0")
    return subprocess.run(
        [sys.executable, "-m", "webtext.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_config_secrets_are_never_echoed(tmp_path):
    run_dir = tmp_path / "run"
    subs = {"news": [make_submission("a1", "https://site.test/story", 10, 1_700_000_000, "news")]}
    with RedditApiServer(CLIENT_ID, SECRET, subs, now=1_700_000_100) as server:
        good = tmp_path / "good.yaml"
        good.write_text(
            f"run_dir: {run_dir}\n"
            "ray: {num_cpus: 1}\n"
            "harvest: {num_partitions: 2}\n"
            "source:\n  reddit_api:\n    subreddits: [news]\n"
            f"    oauth_url: {server.url}\n    reddit_url: {server.url}\n"
            f"    client_id: {CLIENT_ID}\n    client_secret: {SECRET}\n"
        )
        # a validation error in the section that holds the secret, a bad secret value,
        # a YAML error on the secret's line, a bad --set of it, and the printed config
        missing = tmp_path / "missing.yaml"
        missing.write_text(f"source:\n  reddit_api:\n    client_secret: {SECRET}\n")
        broken = tmp_path / "broken.yaml"
        broken.write_text(f"source:\n  reddit_api:\n    client_secret: [{SECRET}\n")
        runs = [
            webtext("config", str(missing), cwd=tmp_path),
            webtext(
                "config",
                str(good),
                "--set",
                f"source.reddit_api.client_secret=[{SECRET}]",
                cwd=tmp_path,
            ),
            webtext("config", str(broken), cwd=tmp_path),
            webtext(
                "config",
                str(good),
                "--set",
                f"source.reddit_api.client_secret='{SECRET}",
                cwd=tmp_path,
            ),
            webtext("config", str(good), cwd=tmp_path),
            webtext("harvest", str(good), cwd=tmp_path),
        ]
        assert server.requests, "the harvest did reach the API with the config's credentials"
    assert [r.returncode for r in runs] == [2, 2, 2, 2, 0, 0], [r.stderr[-500:] for r in runs]
    assert "source.reddit_api.subreddits: Field required" in runs[0].stderr
    assert "source.reddit_api.client_secret" in runs[1].stderr
    assert "client_secret: '**********'" in runs[4].stdout
    for run in runs:
        assert SECRET not in run.stdout and SECRET not in run.stderr
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.parent.name == "links" for p in files)
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
