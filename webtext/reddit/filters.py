"""Submission records -> link rows, or a named reason why not.

Both sources (dumps and the API) produce the same `Submission`: `id`, `url`, `score`,
`subreddit`, `created_utc`, `is_self`, `over_18`, `domain`. `SubmissionFilter.check` judges
it in a fixed order (cheap checks first) and returns either a `LinkRow` or a drop reason.
Every reason is counted; none is silent.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from msgspec import UNSET

from webtext.config import HarvestConfig
from webtext.reddit.canonical import BadUrl, path_extension, registered_domain, split_url_full
from webtext.reddit.dumps import Submission

REQUIRED = ("id", "url", "created_utc", "score")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1  # the spill columns are int64
HOST_CACHE_SIZE = 1 << 18  # hosts remembered by a filter (blocked?, registered domain)

# every reason a submission or a URL can be dropped with (the keys of stats["dropped"])
DROP_REASONS = {
    "self_post": "a self (text) post, harvest.include_self is false",
    "nsfw": "over_18, harvest.include_nsfw is false",
    "date_window": "created outside [harvest.after, harvest.before)",
    "low_score": "submission score < harvest.min_score (karma: per_submission)",
    "not_http": "not an http(s) URL",
    "malformed_url": "no host, bad port, bad IDNA, control characters, too long",
    "domain_blocklist": "host is (a subdomain of) harvest.domain_blocklist",
    "extension_blocklist": "path ends in harvest.extension_blocklist",
    "duplicate_submission": "the same submission id seen twice (overlapping sources)",
    "low_karma": "URL score under harvest.karma < harvest.min_score (karma: max / sum)",
}
# reasons of malformed records (stats["malformed_reasons"])
MALFORMED_REASONS = ("not_json", "not_object", "truncated", "missing_field", "bad_field")


class LinkRow(NamedTuple):
    url: str  # the ASCII URI to fetch
    canonical_url: str
    domain: str
    score: int
    submission_id: str
    subreddit: str
    created_utc: int
    url_original: str | None = None  # as submitted, when it differs from url


class BadRecord(ValueError):
    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind


def _int(value: Any, name: str) -> int:
    if type(value) is int:
        return value
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except (ValueError, OverflowError):  # "yesterday", "inf", "1e999"
            pass
    raise BadRecord("bad_field", f"field {name!r} is not a number: {value!r}")


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


class SubmissionFilter:
    """Holds the harvest filters; `check(submission)` (or `apply(dict)`) -> LinkRow or a
    drop reason (str).

    Raises `BadRecord` for a record that lacks a field or has an unusable one.
    """

    def __init__(self, cfg: HarvestConfig):
        self.include_self = cfg.include_self
        self.include_nsfw = cfg.include_nsfw
        self.after = int(cfg.after.timestamp()) if cfg.after else None
        self.before = int(cfg.before.timestamp()) if cfg.before else None
        self.min_score = cfg.min_score if cfg.karma == "per_submission" else None
        self.blocked_domains = frozenset(
            d.strip().lower().lstrip("*").strip(".") for d in cfg.domain_blocklist if d.strip()
        )
        self.blocked_ext = frozenset(e.strip().lower().lstrip(".") for e in cfg.extension_blocklist)
        self._hosts: dict[str, tuple[bool, str]] = {}

    def domain_blocked(self, host: str) -> bool:
        """Suffix match on the host: wikipedia.org blocks en.m.wikipedia.org too."""
        blocked = self.blocked_domains
        if host in blocked:
            return True
        dot = host.find(".")
        while dot >= 0:
            host = host[dot + 1 :]
            if host in blocked:
                return True
            dot = host.find(".")
        return False

    def apply(self, rec: dict[str, Any]) -> LinkRow | str:
        """`check` for a submission dict (the API source, tests)."""
        return self.check(Submission.from_dict(rec))

    def _host_info(self, host: str, is_ip: bool) -> tuple[bool, str]:
        """(blocked, registered domain) of a host, memoised: links repeat their hosts."""
        info = (bool(self.blocked_domains) and self.domain_blocked(host),
                host if is_ip else registered_domain(host))  # fmt: skip
        if len(self._hosts) >= HOST_CACHE_SIZE:
            self._hosts.clear()
        self._hosts[host] = info
        return info

    def check(self, sub: Submission) -> LinkRow | str:
        sub_id, url, created_raw, score_raw = sub.id, sub.url, sub.created_utc, sub.score
        if sub_id is UNSET or url is UNSET or created_raw is UNSET or score_raw is UNSET:
            missing = next(n for n in REQUIRED if getattr(sub, n) is UNSET)
            raise BadRecord("missing_field", f"missing field {missing!r}")
        if sub_id is None or sub_id == "":
            raise BadRecord("bad_field", "field 'id' is empty")
        if not self.include_self:
            is_self = sub.is_self
            if is_self is None:  # early dumps lack it: a self post's domain is self.<subreddit>
                is_self = str(sub.domain or "").startswith("self.")
            if is_self is True or (is_self and _flag(is_self)):
                return "self_post"
        if not self.include_nsfw:
            nsfw = sub.over_18
            if nsfw is True or (nsfw and _flag(nsfw)):
                return "nsfw"
        if url.__class__ is not str:
            if url is None:
                return "malformed_url"  # e.g. a self post of a dump without is_self
            raise BadRecord("bad_field", f"field 'url' is not a string: {url!r}")
        created = created_raw if type(created_raw) is int else _int(created_raw, "created_utc")
        if (self.after is not None and created < self.after) or (
            self.before is not None and created >= self.before
        ):
            return "date_window"
        score = score_raw if type(score_raw) is int else _int(score_raw, "score")
        if self.min_score is not None and score < self.min_score:
            return "low_score"
        try:
            fetch, canonical, host, is_ip, original = split_url_full(url)
        except BadUrl as exc:
            return exc.reason
        info = self._hosts.get(host)
        blocked, domain = info if info is not None else self._host_info(host, is_ip)
        if blocked:
            return "domain_blocklist"
        if self.blocked_ext and path_extension(canonical) in self.blocked_ext:
            return "extension_blocklist"
        if not (_INT64_MIN <= score <= _INT64_MAX and _INT64_MIN <= created <= _INT64_MAX):
            raise BadRecord("bad_field", f"score or created_utc out of range: {score}, {created}")
        subreddit = sub.subreddit
        if subreddit.__class__ is not str:
            subreddit = "" if subreddit is None else str(subreddit)
        return LinkRow(fetch, canonical, domain, score, str(sub_id), subreddit, created, original)
