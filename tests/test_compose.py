"""docker-compose.yml: validated by a real compose parser, and every command it runs exists."""

from __future__ import annotations

import json
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


def _compose_config(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`docker-compose config` with only the given variables (an empty --env-file, so a
    developer's .env never leaks in)."""
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose (Debian package) is not installed")
    empty = tmp_path / "empty.env"
    empty.write_text("")
    return subprocess.run(
        [exe, "-f", str(COMPOSE), "--env-file", str(empty), *args, "config"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env},
    )  # fmt: skip


def test_compose_parser_accepts_file(tmp_path):
    """Debian's docker-compose parses and validates the file (no engine needed for `config`)."""
    for profile in ([], ["--profile", "gpu"]):
        proc = _compose_config(tmp_path, *profile, RAY_AUTH_TOKEN="t0ken", RAY_WORKER_CPUS="3")
        assert proc.returncode == 0, proc.stderr
        resolved = yaml.safe_load(proc.stdout)
        services = resolved["services"]
        assert {"ray-head", "ray-worker", "crawl"} <= set(services)
        if profile:
            assert "train" in services
        # workers and the driver wait for a healthy head, which checks an authenticated call
        assert "ray status --address=127.0.0.1:6379" in " ".join(
            services["ray-head"]["healthcheck"]["test"]
        )
        for name in ("ray-worker", "crawl"):
            assert services[name]["depends_on"]["ray-head"]["condition"] == "service_healthy"
        assert "--num-cpus=3" in services["ray-worker"]["command"]  # from RAY_WORKER_CPUS
        for service in services.values():
            assert service["environment"]["RAY_AUTH_TOKEN"] == "t0ken"


def test_compose_refuses_to_start_without_the_ray_token(tmp_path):
    for env in ({}, {"RAY_AUTH_TOKEN": ""}):
        proc = _compose_config(tmp_path, **env)
        assert proc.returncode != 0
        assert "set RAY_AUTH_TOKEN in .env" in proc.stderr


def test_dockerignore_keeps_secrets_environments_and_data_out_of_the_context(tmp_path):
    """docker-py's own .dockerignore matcher (what docker-compose builds with) on a tree with
    a .env, a venv, WARC data and the sources the Dockerfile copies."""
    python = "/usr/bin/python3"
    probe = subprocess.run([python, "-c", "import docker.utils.build"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("Debian's python3-docker (a docker-compose dependency) is not installed")
    copied = [line.split()[1] for line in (REPO / "Dockerfile").read_text().splitlines()
              if line.startswith("COPY")]  # fmt: skip
    for src in copied:
        assert (REPO / src).exists(), src
    tree = {
        "Dockerfile": "", ".dockerignore": (REPO / ".dockerignore").read_text(),
        "pyproject.toml": "", "README.md": "", "webtext/__init__.py": "",
        "webtext/train/hf.py": "", "pipelines/run.py": "", "dedup/stage.py": "",
        "configs/mini-crawl.yaml": "", ".env": "RAY_AUTH_TOKEN=secret", ".env.local": "x",
        ".venv/bin/python": "", ".venv-train/bin/python": "", ".venv-pywb/bin/python": "",
        "data/mini-crawl/warc/a.warc.gz": "",
        "runs/demo/report.html": "", ".git/config": "", "tests/test_x.py": "",
        "webtext/__pycache__/a.cpython-311.pyc": "", "bench/results/x.json": "",
    }  # fmt: skip
    root = tmp_path / "ctx"
    for rel, text in tree.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    code = (
        "import json, sys; from docker.utils.build import exclude_paths\n"
        "root = sys.argv[1]\n"
        "patterns = [p for p in open(root + '/.dockerignore').read().splitlines()\n"
        "            if p.strip() and not p.startswith('#')]\n"
        "print(json.dumps(sorted(exclude_paths(root, patterns))))"
    )
    proc = subprocess.run([python, "-c", code, str(root)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    context = set(json.loads(proc.stdout))
    for rel in (
        ".env",
        ".env.local",
        ".venv/bin/python",
        ".venv-train/bin/python",  # .ci/run's train-only venv (torch: ~1 GB)
        ".venv-pywb/bin/python",
        "data/mini-crawl/warc/a.warc.gz",
        "runs/demo/report.html",
        ".git/config",
        "webtext/__pycache__/a.cpython-311.pyc",
    ):
        assert rel not in context, rel  # fmt: skip
    for rel in (
        "Dockerfile",
        "pyproject.toml",
        "README.md",
        "webtext/__init__.py",
        "webtext/train/hf.py",
        "pipelines/run.py",
        "dedup/stage.py",
        "configs/mini-crawl.yaml",
    ):
        assert rel in context, rel  # fmt: skip


def test_train_image_gets_the_train_extra():
    """The GPU image installs `.[train]`, which brings what export-hf and sample import."""
    import tomllib

    train = yaml.safe_load(COMPOSE.read_text())["services"]["train"]
    assert train["build"]["args"]["EXTRAS"] == "train"
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    names = {dep.split(">")[0].split("=")[0] for dep in extras["train"]}
    assert {"torch", "safetensors", "tokenizers"} <= names
    assert "transformers" in {dep.split(">")[0] for dep in extras["hf"]}


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
    assert "--num-cpus=${RAY_WORKER_CPUS" in services["ray-worker"]["command"]
    assert "--address=ray-head:6379" in services["ray-worker"]["command"]
    assert "-m webtext.train configs/train-gpt2.yaml" in services["train"]["command"]
    load_config(REPO / "configs/train-gpt2.yaml")
    assert (REPO / "webtext/train/__main__.py").is_file()


def test_all_shipped_configs_validate():
    for path in sorted((REPO / "configs").glob("*.yaml")):
        load_config(path)


def test_config_comments_name_files_that_exist():
    """Commands in comments of the compose file and configs point at real config files."""
    import re

    for path in [COMPOSE, *sorted((REPO / "configs").glob("*.yaml"))]:
        for name in re.findall(r"configs/[\w.-]+\.yaml", path.read_text()):
            assert (REPO / name).is_file(), (path.name, name)
