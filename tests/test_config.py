from __future__ import annotations

from pathlib import Path

import pytest

from webtext.cli import main
from webtext.config import ConfigError, build_config, load_config


def test_defaults_validate():
    cfg = build_config({})
    assert cfg.harvest.min_score == 3
    assert cfg.harvest.karma == "per_submission"
    assert cfg.clean.languages == ["en"]
    assert cfg.fetch.allow_networks == []


def test_unknown_key_names_key_and_allowed():
    with pytest.raises(ConfigError) as info:
        build_config({"harvest": {"min_scor": 3}})
    text = str(info.value)
    assert "harvest.min_scor" in text and "min_score" in text


def test_bad_value_names_allowed_values():
    with pytest.raises(ConfigError) as info:
        build_config({}, ["harvest.karma=bogus"])
    assert "harvest.karma" in str(info.value) and "per_submission" in str(info.value)


def test_set_overrides_parse_yaml_values(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("run_dir: out\nharvest:\n  min_score: 5\n")
    cfg = load_config(path, ["harvest.min_score=7", "fetch.allow_networks=[127.0.0.1/32]"])
    assert cfg.harvest.min_score == 7
    assert cfg.fetch.allow_networks == ["127.0.0.1/32"]
    assert cfg.run_dir == str(Path("out").absolute())


def test_set_unknown_section_and_bad_cidr():
    with pytest.raises(ConfigError, match="nosuch"):
        build_config({}, ["nosuch.key=1"])
    with pytest.raises(ConfigError, match="not a CIDR"):
        build_config({}, ["fetch.allow_networks=[nope]"])
    with pytest.raises(ConfigError, match="dotted.key=value"):
        build_config({}, ["novalue"])


def test_cli_config_prints_resolved(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("run_dir: out\n")
    assert main(["config", str(path), "--set", "dedup.threshold=0.7"]) == 0
    out = capsys.readouterr().out
    assert "threshold: 0.7" in out and f"run_dir: {Path('out').absolute()}" in out


def test_cli_config_error_exit_code(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("harvest: [1, 2]\n")
    assert main(["config", str(path)]) == 2
    assert "harvest" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["fetch.deadline", "fetch.per_host_delay", "fetch.max_retry_after"])
@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_non_finite_numbers_are_refused_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.") + ".*finite"):
        build_config({}, [f"{key}={value}"])


def test_run_dir_must_be_a_folder(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match=r"run_dir: .*a file, not a folder"):
        build_config({"run_dir": str(a_file)})
    with pytest.raises(ConfigError, match=r"run_dir: .*inside .*a-file"):
        build_config({"run_dir": str(a_file / "below")})
    for empty in ("run_dir=", "run_dir=' '"):
        with pytest.raises(ConfigError, match="run_dir: .*empty path"):
            build_config({}, [empty])
    assert build_config({"run_dir": str(tmp_path / "new" / "run")}).run_dir.endswith("new/run")


@pytest.mark.parametrize("agent", ["", " ", "bot\r\nX-Evil: 1", "bot\x00", "bötchen/1.0", "/1.0"])
def test_user_agent_is_a_printable_ascii_header_value(agent):
    with pytest.raises(ConfigError, match="fetch.user_agent"):
        build_config({"fetch": {"user_agent": agent}})
    assert build_config({"fetch": {"user_agent": " mybot/1.0 (+x) "}}).fetch.user_agent == (
        "mybot/1.0 (+x)"
    )


@pytest.mark.parametrize(
    "key",
    ["fetch.deadline", "fetch.per_host_delay", "fetch.read_timeout", "fetch.max_retry_after",
     "fetch.backoff_max", "fetch.max_crawl_delay"],
)  # fmt: skip
def test_seconds_are_at_most_a_day_naming_the_key(key):
    """1e10 s is finite, and past what the watchdog's wait takes: it stopped, no deadline held."""
    with pytest.raises(ConfigError, match=key.replace(".", r"\.") + ".*less than or equal"):
        build_config({}, [f"{key}=1e10"])
    assert build_config({}, [f"{key}=86400"])


def test_a_secret_written_in_place_of_its_section_is_not_echoed():
    secret = "pasted-one-line-too-high-7f3a"
    for value in (secret, [secret]):
        with pytest.raises(ConfigError, match="source.reddit_api") as info:
            build_config({"source": {"reddit_api": value}})
        assert secret not in str(info.value)
