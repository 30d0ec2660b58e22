"""Bot walls, soft 404s, consent and login walls: pages that answered 200 but hold no article.

OpenWebText users found "Please enable JavaScript", Cloudflare's "Checking your browser",
cookie walls and "Page not found" pages in the corpus. A phrase alone proves nothing (an
article about Cloudflare may quote one), so a page is a wall only when

- **density**: sentences that hold a wall phrase make up at least `max_fraction` of the
  text's characters (a wall is mostly wall; an article that mentions one once is not), or
- **title**: a segment of the title (split on `|`, ` - `, ...) is *entirely* a wall title
  ("Page not found", "Access denied", "Just a moment...") and the text is short
  (< `title_max_words` words).
"""

from __future__ import annotations

import bisect
import re

from webtext.clean.base import Filter, Page

WALL_PHRASES: dict[str, list[str]] = {
    "javascript": [
        r"\b(please )?(enable|turn on|activate) javascript\b",
        r"\bjavascript (is|must be|has been) (disabled|enabled|required|turned off)\b",
        r"\b(requires|need) javascript\b",
        r"\byour browser (does not|doesn't) support javascript\b",
        r"\bplease enable js\b",
    ],
    "captcha": [
        r"\bverify (that )?you are (a )?human\b",
        r"\bverifying (that )?you are (a )?human\b",
        r"\bpress (&|and) hold\b",
        r"\b(made us think|suspect) (that )?you (were|are) a (ro)?bot\b",
        r"\bpardon our interruption\b",
        r"\bare you a (robot|human)\b",
        r"\bi'?m not a robot\b",
        r"\bprove (that )?you('re| are) (not a robot|human)\b",
        r"\bcomplete the (security check|captcha)\b",
        r"\bunusual traffic from your (computer|network|device)\b",
        r"\bcaptcha\b",
    ],
    "access_denied": [
        r"\baccess (is |has been )?denied\b",
        r"\b403 forbidden\b",
        r"\byou (don't|do not) have permission to access\b",
        r"\byou have been blocked\b",
        r"\b(this )?request (was|has been) blocked\b",
        r"\breference #\s?[0-9a-f]",
        r"\byour ip( address)? (has been|is) (blocked|banned)\b",
    ],
    "cloudflare": [
        r"\bchecking (if the site connection is secure|your browser)\b",
        r"\bddos protection by\b",
        r"\bperformance (&|and) security by cloudflare\b",
        r"\bcloudflare ray id\b",
        r"\bray id:",
        r"\bredirect to your requested content\b",
        r"\breview the security of your connection\b",
        r"\bplease (enable|allow) cookies\b",
        r"\bplease (stand by|wait)[,.]? (while )?we('re| are) checking\b",
    ],
    "not_found": [
        r"\bpage (was )?not found\b",
        r"\b(error 404|404 error|404 not found|404 page)\b",
        r"\b(page|article|content|story|post) (you('re| are)? (looking for|trying to reach)|you requested)\b.{0,40}\b(could not|couldn't|cannot|can't|does not|doesn't|no longer)\b",
        r"\bwe (could not|couldn't|can't|cannot) find (that|this|the) page\b",
        r"\bthis page (does not|doesn't) exist\b",
        r"\bthe requested url\b.{0,80}\bwas not found\b",
        r"\bwas not found on this server\b",
        r"\b(that|this) page can't be found\b",
    ],
    "consent": [
        r"\bwe (and our partners )?use cookies\b",
        r"\b(accept|allow|reject|refuse) all( cookies)?\b",
        r"\bmanage (cookies|consent|preferences|options)\b",
        r"\b(by|if you) continu(e|ing) (to use|to browse|browsing|using) (this|our|the) (site|website)\b",
        r"\bwe and our partners\b",
        r"\blegitimate interest\b",
        r"\bstore and/or access information on a device\b",
        r"\byour privacy choices\b",
        r"\bconsent to (the|our) use of cookies\b",
        r"\bcookie (settings|preferences|consent)\b",
    ],
    "login": [
        r"\b(sign|log) ?in to (continue|read|view|access|see|comment)\b",
        r"\bsubscribe (now )?to (continue|keep) reading\b",
        r"\b(only )?(available|exclusive) (to|for) (paid )?(subscribers|members)\b",
        r"\balready (a|have an?) (subscriber|member|account)\b",
        r"\bcreate a (free )?account to (continue|read)\b",
        r"\byou('ve| have) reached (your|the) (\w+ ){0,2}(limit|maximum)\b",
        r"\bfree articles? (remaining|left)\b",
        r"\bregister to (continue|read)\b",
        r"\bto continue reading\b",
        r"\bfor (paid )?subscribers only\b",
        r"\bsubscribe to (read|unlock|access)\b",
        r"\bto read the full (story|article)\b",
    ],
}

# Literal substrings (of the lower-cased text) at least one of which every phrase above
# contains: a page holding none of them skips the regular expressions entirely.
GATES = (
    "javascript", "robot", "you are human", "you are a human", "you're human", "captcha",
    "security check", "unusual traffic", "denied", "403 forbidden", "permission to access",
    "blocked", "reference #", "banned", "checking", "ddos", "cloudflare", "ray id",
    "requested content", "cookies", "stand by", "please wait", "not found", "404",
    "looking for", "trying to reach", "you requested", "page does", "page doesn't",
    "find th", "requested url", "accept all", "allow all", "reject all", "refuse all",
    "manage cookies", "manage consent", "manage preferences", "manage options",
    "you continu", "by continu", "we and our partners", "legitimate interest",
    "store and/or", "privacy choices", "cookie ", "in to ", "subscribe", "subscribers",
    "to members", "for members", "paid members", "already a ", "already have a",
    "create a", "reached your", "reached the", "free article", "register to",
    "continue reading", "enable js", "press & hold", "press and hold", "were a bot",
    "are a bot", "interruption", "security of your connection", "can't be found",
    "read the full",
)  # fmt: skip

WALL_TITLE = re.compile(
    r"\W*(error )?(404|403|500|503)?\W*("
    r"(page |file |site )?not found|access denied|forbidden|just a moment\W*"
    r"|attention required\W*|are you a robot\W*|security check|captcha|robot check"
    r"|one more step|please wait\W*|you have been blocked|page unavailable"
    r"|sign in|log ?in|please enable javascript\W*|cookies? (consent|settings)"
    r"|subscribe to (continue|read)|access to this page has been denied\W*|error"
    r")?\W*",
    re.I,
)
_BOUNDARY = re.compile(r"[.!?]+(?=\s|$)|\n")
TITLE_SPLIT = re.compile(r"\s+[|\-–—:·•]\s+|\s*::\s*|\s+\|\s*|\s*\|\s+")


class Botwall(Filter):
    name = "botwall"

    def __init__(self, max_fraction: float = 0.3, title_max_words: int = 300):
        self.max_fraction, self.title_max_words = max_fraction, title_max_words
        self._phrase = {
            kind: re.compile("|".join(f"(?:{p})" for p in pats), re.I)
            for kind, pats in WALL_PHRASES.items()
        }

    def wall_title(self, title: str) -> bool:
        """A title segment that is nothing but a wall title ("Page not found | Site")."""
        for segment in TITLE_SPLIT.split(title.strip()):
            if segment and re.search(r"\w", segment) and WALL_TITLE.fullmatch(segment):
                return True
        return False

    @staticmethod
    def _gated_sentences(lowered: str) -> list[tuple[int, int]]:
        """(start, end) of each sentence holding a gate substring; most pages have none.

        Sentences end at a newline or at . ! ? followed by whitespace (not inside a URL,
        a number or an abbreviation like "e.g").
        """
        positions = []
        for gate in GATES:
            pos = lowered.find(gate)
            while pos != -1:
                positions.append(pos)
                pos = lowered.find(gate, pos + 1)
        if not positions:
            return []
        bounds = [m.end() for m in _BOUNDARY.finditer(lowered)]
        spans = set()
        for pos in positions:
            k = bisect.bisect_right(bounds, pos)
            start = bounds[k - 1] if k else 0
            end = bounds[k] if k < len(bounds) else len(lowered)
            spans.add((start, end))
        return sorted(spans)

    def hits(self, sentence: str) -> list[str]:
        return [kind for kind, rx in self._phrase.items() if rx.search(sentence)]

    def check(self, page: Page) -> str | None:
        text = page.get("text") or ""
        title = page.get("title") or ""
        if title and self.wall_title(title) and len(text.split()) < self.title_max_words:
            return f"wall title {title[:80]!r}"
        lowered = text.lower().replace("\u2019", "'")  # curly apostrophes match too
        starts = self._gated_sentences(lowered)
        if not starts:
            return None
        kinds: set[str] = set()
        hit_chars = 0
        for start, end in starts:
            found = self.hits(lowered[start:end])
            if found:
                kinds.update(found)
                hit_chars += len(lowered[start:end].strip())
        total = len(lowered.strip())
        frac = hit_chars / total
        if kinds and frac >= self.max_fraction:
            return f"{','.join(sorted(kinds))}: wall sentences {frac:.2f} of text"
        return None
