"""The live Reddit API through praw, as a source of the same submission dicts as the dumps.

Credentials come from the environment (REDDIT_CLIENT_ID, REDDIT_CLIENT_SECRET,
REDDIT_USER_AGENT), or for the first two from `source.reddit_api.client_id` /
`client_secret` (pydantic SecretStr: redacted in `webtext config` and in errors) when the
environment lacks them; they are never logged or written. praw (prawcore) reads Reddit's
`x-ratelimit-*` headers and sleeps before the next request when the budget runs low, so the
rate limit is respected without any code here. Runs in the driver: one API client, one
rate-limit budget.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from webtext.config import ConfigError, RedditApiSource

ENV_VARS = ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET", "REDDIT_USER_AGENT")
# fields copied from a praw Submission into the submission dict (the dump schema)
FIELDS = (
    "id",
    "url",
    "score",
    "subreddit",
    "created_utc",
    "is_self",
    "over_18",
    "domain",
    "permalink",
    "title",
    "num_comments",
    "author",
)


def credentials(api: RedditApiSource | None = None) -> dict[str, str]:
    """The environment's credentials, or the config's SecretStr fields where it has none."""
    found = {name: os.environ.get(name, "").strip() for name in ENV_VARS}
    if api is not None:
        for name, secret in (
            ("REDDIT_CLIENT_ID", api.client_id),
            ("REDDIT_CLIENT_SECRET", api.client_secret),
        ):
            if not found[name] and secret is not None:
                found[name] = secret.get_secret_value().strip()
    missing = [name for name in ENV_VARS if not found[name]]
    if missing:
        raise ConfigError(
            "source.reddit_api needs Reddit API credentials in the environment; missing: "
            + ", ".join(missing)
            + " (the client id and secret may also be set as source.reddit_api.client_id"
            " and client_secret)"
        )
    return found


def make_reddit(api: RedditApiSource) -> Any:
    """A read-only praw.Reddit with the environment's credentials."""
    import praw

    creds = credentials(api)
    settings: dict[str, Any] = {}
    if api.oauth_url:
        settings["oauth_url"] = api.oauth_url.rstrip("/")
    if api.reddit_url:
        settings["reddit_url"] = api.reddit_url.rstrip("/")
    reddit = praw.Reddit(
        client_id=creds["REDDIT_CLIENT_ID"],
        client_secret=creds["REDDIT_CLIENT_SECRET"],
        user_agent=creds["REDDIT_USER_AGENT"],
        check_for_updates=False,
        check_for_async=False,
        **settings,
    )
    reddit.read_only = True
    return reddit


def submission_to_record(submission: Any) -> dict[str, Any]:
    """praw Submission -> the dump schema, from its loaded data only (no lazy fetches)."""
    data = vars(submission)
    record: dict[str, Any] = {}
    for name in FIELDS:
        value = data.get(name)
        if name in {"subreddit", "author"} and value is not None and not isinstance(value, str):
            value = str(value)  # praw objects: Subreddit -> display name, Redditor -> name
        record[name] = value
    return record


def listing(reddit: Any, api: RedditApiSource, name: str) -> Iterator[Any]:
    subreddit = reddit.subreddit(name)
    if api.listing == "search":
        return subreddit.search(
            api.query, sort=api.search_sort, time_filter=api.time_filter, limit=api.limit
        )
    if api.listing in {"top", "controversial"}:
        return getattr(subreddit, api.listing)(time_filter=api.time_filter, limit=api.limit)
    return getattr(subreddit, api.listing)(limit=api.limit)


def iter_api_records(api: RedditApiSource, reddit: Any = None) -> Iterator[dict[str, Any]]:
    """Submission dicts of every configured subreddit, in listing order."""
    if api.listing == "search" and not api.query:
        raise ConfigError("source.reddit_api.query is required when listing is 'search'")
    reddit = reddit or make_reddit(api)
    try:
        from prawcore.exceptions import PrawcoreException
    except ImportError:  # pragma: no cover - praw depends on prawcore
        PrawcoreException = Exception  # noqa: N806
    for name in api.subreddits:
        try:
            for submission in listing(reddit, api, name):
                yield submission_to_record(submission)
        except PrawcoreException as exc:
            # prawcore messages name the status and URL, never the credentials
            raise RuntimeError(f"Reddit API, r/{name} ({api.listing}): {exc}") from None
