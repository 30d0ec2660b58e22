"""docker-compose.yml: validated by a real compose parser, and every command it runs exists."""

from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO
from webtext.cli import STAGES, TOOLS
from webtext.config import load_config

COMPOSE = REPO / "docker-compose.yml"


def _services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_compose_parser_accepts_file(tmp_path):
    """Debian's docker-compose parses and validates the file (no engine needed for `config`)."""
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose (Debian package) is not installed")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    for profile in ([], ["--profile", "gpu"]):
        proc = subprocess.run(
            [exe, "-f", str(COMPOSE), *profile, "config"],
            capture_output=True, text=True, cwd=REPO, env=env, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        resolved = yaml.safe_load(proc.stdout)
        assert {"ray-head", "ray-worker", "crawl"} <= set(resolved["services"])
        if profile:
            assert "train" in resolved["services"]


def test_services_and_volumes():
    services = _services()
    assert {"ray-head", "ray-worker", "crawl", "train"} <= set(services)
    assert services["train"]["profiles"] == ["gpu"]
    for name in ("ray-head", "ray-worker", "crawl", "train"):
        assert "./data:/app/data" in services[name]["volumes"], name
    assert "REDDIT_CLIENT_SECRET" in services["crawl"]["environment"]


def _webtext_commands(command: str) -> list[list[str]]:
    """Every `webtext ...` invocation inside a service command (also inside bash -c)."""
    words = shlex.split(command)
    if words[:2] == ["bash", "-c"]:
        words = shlex.split(words[2].replace("&&", " && "))
    out, current = [], None
    for word in words:
        if word == "webtext":
            current = []
            out.append(current)
        elif word in {"&&", ";", "||"}:
            current = None
        elif current is not None:
            current.append(word)
    return out


def test_every_webtext_command_exists_and_config_validates():
    seen = 0
    for name, service in _services().items():
        for argv in _webtext_commands(service["command"]):
            seen += 1
            assert argv[0] in STAGES or argv[0] in TOOLS or argv[0] == "config", (name, argv)
            config = REPO / argv[1]
            assert config.is_file(), (name, config)
            overrides = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
            load_config(config, overrides)
    assert seen >= 1


def test_ray_and_torchrun_commands_exist():
    services = _services()
    assert shlex.split(services["ray-head"]["command"])[:3] == ["ray", "start", "--head"]
    assert "--address=ray-head:6379" in services["ray-worker"]["command"]
    assert "-m webtext.train configs/train-gpt2.yaml" in services["train"]["command"]
    load_config(REPO / "configs/train-gpt2.yaml")
    assert (REPO / "webtext/train/__main__.py").is_file()


def test_all_shipped_configs_validate():
    for path in sorted((REPO / "configs").glob("*.yaml")):
        load_config(path)
