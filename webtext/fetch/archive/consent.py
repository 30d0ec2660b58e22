"""Publishers' refusals for archived copies: the live site's signals, else the archive's.

An archived copy is still the publisher's text, so the opt-outs of webtext/fetch/optout.py
hold for it (its own `noai` / TDMRep headers and meta tags are read in client.py).
robots.txt and `/.well-known/tdmrep.json`:

- where the live host answered (`live_then_archive`: it was asked for robots.txt, and
  tdmrep.json, before the live page), its current answer decides: our own group
  (`robots_disallowed`), the AI-training groups (`optout:robots_ai`), a TDMRep reservation
  (`optout:tdmrep`). The live fetch has already applied them, so this is a re-check;
- where it did not answer (no HTTP answer, or 429/5xx for robots.txt), and in `archive`
  mode, which asks no live host at all, the archived robots.txt closest to the capture
  decides: own group and AI-training groups. No archived robots.txt within
  `archive.max_distance_days`: nothing was refused (RFC 9309: no file, no rules).
  Cost: one CDX lookup per archived page (cached in the run like every CDX answer) and one
  replay per distinct archived robots.txt.
"""

from __future__ import annotations

from typing import Any

from webtext.fetch.archive.capture import Capture
from webtext.fetch.archive.request import ArchiveRequestError
from webtext.fetch.body import decode_body
from webtext.fetch.optout import OPTOUT_ROBOTS_AI, OPTOUT_TDMREP, robots_ai_optout
from webtext.fetch.robots import RobotsPolicy, policy_from_response
from webtext.uri import BadUrl, origin

ASK_ARCHIVE = ("", "")  # the live host gave no answer: judge by the archived robots.txt


def live_verdict(archive: Any, url: str) -> tuple[str, str] | None:
    """(status, error) when the live host's cached answers refuse `url`; ASK_ARCHIVE when
    the host was never asked or did not answer; None when it answered and allows it."""
    fetcher = archive.fetcher
    if not fetcher.cfg.respect_robots:
        return None
    policy = fetcher.robots.cached(url)
    if policy is None and url in archive.live_answered:
        # the crawler has already dropped the host's cached files (bounded state), but the
        # live request for this URL got an HTTP answer: robots.txt and tdmrep.json let it
        # through then, so they allow the copy now
        return None
    if (
        policy is None
        or policy.failure_status
        or (policy.disallow_all and (policy.reason or "").startswith("robots.txt unreachable"))
    ):
        return ASK_ARCHIVE
    verdict = judge(policy, url, fetcher)
    if verdict:
        return verdict
    try:
        rules = fetcher.tdmrep.cached(origin(url))
    except BadUrl:
        rules = None
    if rules is not None and rules.reserved(url):
        return OPTOUT_TDMREP, f"/.well-known/tdmrep.json of the live site reserves {url}"
    return None


def judge(policy: RobotsPolicy, url: str, fetcher: Any, where: str = "") -> tuple[str, str] | None:
    """Our own group, then the AI-training groups, of one robots.txt policy."""
    if not policy.allowed(url, fetcher.agent):
        return "robots_disallowed", f"{where}robots.txt disallows {url}"
    token = robots_ai_optout(policy.parser, policy.named, url, fetcher.cfg.optout_agents)
    if token:
        return OPTOUT_ROBOTS_AI, f"{where}robots.txt disallows {url} for {token}"
    return None


def archived_verdict(archive: Any, url: str, capture_time: int, exchanges: list
                     ) -> tuple[str, str] | None:  # fmt: skip
    """The archived robots.txt closest to `capture_time`, from the first archive holding
    one, judged like a live one; None when it allows `url` or no archive holds one."""
    if not archive.fcfg.respect_robots:
        return None
    try:
        robots_url = origin(url) + "/robots.txt"
    except BadUrl:
        return None
    key = (robots_url, capture_time)
    with archive._lock:
        cached = archive._robots_memo.get(key)
    if cached is None:
        cached = _archived_policy(archive, robots_url, capture_time, exchanges)
        with archive._lock:
            archive._robots_memo[key] = cached
    policy, stamp = cached
    if policy is None:
        return None
    return judge(policy, url, archive.fetcher, where=f"archived ({stamp}) ")


def _archived_policy(archive: Any, robots_url: str, when: int, exchanges: list):
    for i, source in enumerate(archive.cfg.sources):
        try:
            captures = archive._lookup(i, source, robots_url, when, exchanges)
        except ArchiveRequestError:
            continue  # this archive is failing: try the next one
        ranked = sorted(
            (
                c
                for c in captures
                if c.status == 200 and abs(c.time - when) <= archive.max_distance_s
            ),
            key=lambda c: (abs(c.time - when), c.time),
        )
        for capture in ranked[:2]:
            memo = (i, capture.url, capture.timestamp, capture.filename, capture.offset)
            with archive._lock:
                known = archive._robots_memo.get(memo, False)
            if known is False:  # one replay per archived robots.txt, whatever asks for it
                known = _robots_text(archive, i, source, capture, exchanges)
                with archive._lock:
                    archive._robots_memo[memo] = known
            text = known
            if text is not None:
                policy = policy_from_response(200, text, archive.fetcher.agent, None)
                return policy, capture.timestamp
    return None, None


def _robots_text(archive: Any, i: int, source: Any, capture: Capture, exchanges: list
                 ) -> str | None:  # fmt: skip
    try:
        if source.kind == "wayback":
            replay = f"{source.replay_url}/{capture.timestamp}id_/{capture.url}"
            answer = archive._call(i, replay, {}, exchanges, read_body_for=(200,))
            return answer.body.decode("utf-8", "replace") if answer.status == 200 else None
        if not capture.filename or capture.offset is None or not capture.length:
            return None
        from webtext.fetch.archive.client import WARC_HEADER_ALLOWANCE, _warc_record

        end = capture.offset + capture.length - 1
        data_url = f"{source.data_url}/{capture.filename.lstrip('/')}"
        answer = archive._call(i, data_url, {"Range": f"bytes={capture.offset}-{end}"},
                               exchanges, read_body_for=(206,))  # fmt: skip
        if answer.status != 206:
            return None
        cap = archive.fcfg.max_bytes
        code, _reason, headers, payload = _warc_record(answer.body, cap + WARC_HEADER_ALLOWANCE)
        if code != 200:
            return None
        encoding = {k.lower(): v for k, v in headers}.get("content-encoding")
        return decode_body(payload, encoding, cap).decode("utf-8", "replace")
    except (ArchiveRequestError, ValueError):
        return None
    except Exception:  # a corrupt body: as if there were no archived robots.txt
        return None
