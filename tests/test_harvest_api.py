"""The praw source, for real, against the local Reddit-compatible API in reddit_api_server."""

from __future__ import annotations

import logging
import time

import pytest

from pipelines import harvest
from tests.reddit_api_server import RedditApiServer, make_submission
from webtext.config import ConfigError, RedditApiSource, build_config
from webtext.paths import RunPaths
from webtext.reddit.api import iter_api_records
from webtext.reddit.spill import iter_link_rows

CLIENT_ID = "test-client-id"
SECRET = "s3cr3t-Never-Log-Me"
NOW = 1_700_000_000.0


def corpus() -> dict[str, list[dict]]:
    news = [
        make_submission(
            f"n{i}",
            f"https://site{i % 9}.com/story/{i}?utm_source=reddit",
            score=i,
            created_utc=NOW - i * 3600,  # n0 is newest; n200 is 200 hours old
            subreddit="news",
            num_comments=(i * 37) % 101,
        )
        for i in range(230)
    ]
    news.append(make_submission("nsfw1", "https://ex.com/x", 50, NOW - 10, "news", over_18=True))
    science = [
        make_submission("sc1", "https://journal.org/paper-on-graphene", 40, NOW - 100, "science"),
        make_submission(
            "sc2", "https://journal.org/a/b", 30, NOW - 200, "science", title="Graphene again"
        ),
        make_submission("sc3", "https://journal.org/c", 20, NOW - 300, "science", title="Other"),
    ]
    science[0]["title"] = "Graphene breakthrough"
    return {"news": news, "science": science}


@pytest.fixture
def reddit_env(monkeypatch):
    monkeypatch.setenv("REDDIT_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("REDDIT_USER_AGENT", "webtext-tests/0.1 (by u/nobody)")


def api_source(server: RedditApiServer, **kwargs) -> RedditApiSource:
    return RedditApiSource(oauth_url=server.url, reddit_url=server.url, **kwargs)


def test_listing_with_pagination_and_rate_limit(reddit_env):
    # budget of 2 requests per 1-second window: praw must sleep before the third page
    with RedditApiServer(
        CLIENT_ID, SECRET, corpus(), now=NOW, ratelimit_budget=2, ratelimit_reset=1
    ) as server:
        api = api_source(server, subreddits=["news"], listing="top", time_filter="week", limit=None)
        records = list(iter_api_records(api))
    calls = server.api_requests()
    assert [c.query.get("t") for c in calls] == ["week"] * 2
    assert calls[1].query["after"] == "t3_" + records[99]["id"]
    week = [s for s in corpus()["news"] if s["created_utc"] >= NOW - 7 * 86400]
    assert len(records) == len(week) == 170  # n0..n168 + nsfw1
    assert [r["score"] for r in records] == sorted((r["score"] for r in records), reverse=True)
    first = records[0]
    assert first["subreddit"] == "news" and isinstance(first["created_utc"], float)
    assert set(first) >= {"id", "url", "score", "created_utc", "is_self", "over_18"}
    assert server.requests[0].path == "/api/v1/access_token"
    assert all(c.authorization.startswith("bearer ") for c in calls)


def test_rate_limit_makes_praw_wait(reddit_env):
    with RedditApiServer(
        CLIENT_ID, SECRET, corpus(), now=NOW, ratelimit_budget=2, ratelimit_reset=1
    ) as server:
        api = api_source(server, subreddits=["news"], listing="new", limit=230)
        records = list(iter_api_records(api))
    calls = server.api_requests()
    assert len(calls) == 3 and len(records) == 230
    assert calls[1].at - calls[0].at < 0.9
    assert calls[2].at - calls[1].at >= 0.9  # x-ratelimit-remaining hit 0: praw slept


def test_search_and_every_listing(reddit_env):
    with RedditApiServer(CLIENT_ID, SECRET, corpus(), now=NOW) as server:
        api = api_source(
            server, subreddits=["science"], listing="search", query="graphene", search_sort="top"
        )
        found = list(iter_api_records(api))
        assert [r["id"] for r in found] == ["sc1", "sc2"]
        search = server.api_requests()[-1]
        assert search.path.rstrip("/") == "/r/science/search"
        assert search.query["q"] == "graphene" and search.query["restrict_sr"] in {
            "on",
            "1",
            "True",
        }
        for listing in ("hot", "controversial"):
            api = api_source(server, subreddits=["news", "science"], listing=listing, limit=5)
            got = list(iter_api_records(api))
            assert len(got) == 5 + 3  # science has 3
            assert server.api_requests()[-1].path.rstrip("/") == f"/r/science/{listing}"


def test_missing_credentials_name_the_variables(monkeypatch):
    monkeypatch.delenv("REDDIT_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("REDDIT_CLIENT_ID", CLIENT_ID)
    monkeypatch.delenv("REDDIT_USER_AGENT", raising=False)
    api = RedditApiSource(
        subreddits=["news"], oauth_url="http://127.0.0.1:9", reddit_url="http://127.0.0.1:9"
    )
    with pytest.raises(ConfigError, match="REDDIT_CLIENT_SECRET, REDDIT_USER_AGENT"):
        list(iter_api_records(api))


def test_wrong_secret_is_a_clear_error(monkeypatch, reddit_env):
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", "wrong-secret")
    with (
        RedditApiServer(CLIENT_ID, SECRET, corpus(), now=NOW) as server,
        pytest.raises(RuntimeError, match="401") as info,
    ):
        list(iter_api_records(api_source(server, subreddits=["news"])))
    assert "wrong-secret" not in str(info.value)


@pytest.mark.ray
def test_api_source_through_the_stage(tmp_path, ray_local, reddit_env, caplog):
    caplog.set_level(logging.DEBUG)  # praw/prawcore/urllib3 debug logs included
    with RedditApiServer(CLIENT_ID, SECRET, corpus(), now=NOW) as server:
        cfg = build_config(
            {
                "run_dir": str(tmp_path / "run"),
                "source": {
                    "reddit_api": {
                        "subreddits": ["news"],
                        "listing": "top",
                        "time_filter": "day",
                        "oauth_url": server.url,
                        "reddit_url": server.url,
                    }
                },
                "harvest": {"num_partitions": 3},
            }
        )
        stats = harvest.run(cfg)
        assert harvest.run(cfg) == stats  # rerun: nothing is requested again
        requests = len(server.requests)
    day = [s for s in corpus()["news"] if s["created_utc"] >= NOW - 86400]
    assert stats["records_read"] == len(day) == 26  # n0..n24 + nsfw1
    assert stats["dropped"] == {"low_score": 3, "nsfw": 1}  # scores 0, 1, 2
    links = list(iter_link_rows(RunPaths.of(cfg.run_dir).links))
    assert len(links) == stats["urls_kept"] == 22
    assert all("utm_source" not in r["canonical_url"] and "utm_source" in r["url"] for r in links)
    assert {r["domain"] for r in links} == {f"site{i}.com" for i in range(9)}
    assert requests == 2  # one token, one listing page; none from the rerun

    # the secret never reaches a log line or an output file
    assert SECRET not in caplog.text
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_time_filter_limits_what_the_server_returns(reddit_env):
    with RedditApiServer(CLIENT_ID, SECRET, corpus(), now=NOW) as server:
        start = time.monotonic()
        api = api_source(server, subreddits=["news"], listing="top", time_filter="hour", limit=10)
        got = list(iter_api_records(api))
    assert [r["id"] for r in got] == ["nsfw1", "n1", "n0"]  # the last hour, top first
    assert time.monotonic() - start < 5
