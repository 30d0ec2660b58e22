"""A deterministic synthetic mini-web and a Pushshift-format dump that links into it.

It exercises every decision the pipeline makes: boilerplate around articles, exact and near
duplicates under other URLs and hosts, non-English pages, a bot wall, a robots.txt-disallowed
path, redirects, a 404, a PDF, a dead host, plus submissions that the harvest must drop
(low karma, self posts, NSFW, Wikipedia, images, malformed lines), and dead links (gone
articles, a dead host, a parked domain, an archived redirect) with captures in a local web
archive (`webtext.demo.archive`), so `fetch.mode: live_then_archive` brings them back.
Same seed, same bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from webtext.demo.archive import Capture

ADJECTIVES = [
    "local",
    "new",
    "old",
    "public",
    "small",
    "large",
    "early",
    "late",
    "major",
    "recent",
    "national",
    "private",
    "social",
    "important",
    "economic",
    "political",
    "common",
    "central",
    "strong",
    "careful",
    "quiet",
    "simple",
    "general",
    "modern",
    "final",
    "clear",
    "human",
    "open",
    "full",
    "whole",
    "rural",
    "urban",
    "annual",
    "medical",
    "legal",
    "nuclear",
]
NOUNS = [
    "council",
    "city",
    "company",
    "team",
    "school",
    "market",
    "report",
    "study",
    "government",
    "river",
    "bridge",
    "hospital",
    "family",
    "museum",
    "library",
    "village",
    "farmer",
    "teacher",
    "doctor",
    "engineer",
    "student",
    "museum",
    "festival",
    "committee",
    "budget",
    "program",
    "project",
    "station",
    "harbour",
    "factory",
    "court",
    "election",
    "policy",
    "agreement",
    "research",
    "garden",
    "forest",
    "island",
    "railway",
    "airport",
    "season",
    "industry",
    "community",
    "country",
    "province",
    "museum",
    "writer",
    "painter",
    "musician",
    "scientist",
]
VERBS = [
    "approved",
    "announced",
    "rejected",
    "reviewed",
    "opened",
    "closed",
    "discussed",
    "published",
    "supported",
    "described",
    "planned",
    "delayed",
    "expanded",
    "finished",
    "launched",
    "measured",
    "visited",
    "reported",
    "considered",
    "changed",
    "improved",
    "questioned",
    "celebrated",
    "explained",
    "organised",
    "prepared",
]
ADVERBS = [
    "quickly",
    "slowly",
    "finally",
    "recently",
    "carefully",
    "openly",
    "quietly",
    "clearly",
    "already",
    "again",
]
PLACES = [
    "near the old harbour",
    "across the northern valley",
    "in the city centre",
    "along the river",
    "outside the town hall",
    "at the edge of the forest",
    "in the main square",
    "on the coast road",
]
CONNECTORS = [
    "However,",
    "Meanwhile,",
    "According to officials,",
    "In a statement,",
    "Last week,",
    "Earlier this year,",
    "For many residents,",
    "At the same time,",
    "As a result,",
    "In the end,",
]

GERMAN = (
    "Der Stadtrat hat am Dienstag einen neuen Haushalt für das kommende Jahr beschlossen. "
    "Die Bürger der Stadt haben lange über die Pläne für die neue Brücke diskutiert. "
    "Nach Angaben der Verwaltung sollen die Arbeiten im Frühjahr beginnen und zwei Jahre "
    "dauern. Viele Anwohner befürchten, dass der Verkehr in der Innenstadt stark zunehmen "
    "wird. Der Bürgermeister erklärte, dass die Stadt alle Bedenken ernst nehme und "
    "weitere Gespräche mit den Vereinen und Schulen plane. "
)
FRENCH = (
    "Le conseil municipal a adopté mardi un nouveau budget pour l'année prochaine. "
    "Les habitants de la ville ont longuement discuté des projets pour le nouveau pont. "
    "Selon l'administration, les travaux devraient commencer au printemps et durer deux "
    "ans. De nombreux riverains craignent que la circulation augmente fortement dans le "
    "centre. Le maire a expliqué que la ville prenait toutes les inquiétudes au sérieux. "
)
BOTWALL = (
    "Please enable JavaScript and cookies to continue. Checking your browser before "
    "accessing this site. Please verify you are human by completing the action below. "
    "Access denied. Ray ID: 7f3a2b1c9d8e. "
    "This process is automatic. Your browser will redirect to your requested content "
    "shortly. Please allow up to five seconds while we check that your connection is "
    "secure and that you are not a robot. Why do I have to complete a CAPTCHA? Completing "
    "the CAPTCHA proves you are a human and gives you temporary access to the web property. "
    "What can I do to prevent this in the future? If you are on a personal connection, like "
    "at home, you can run an anti-virus scan on your device to make sure it is not infected "
    "with malware. If you are at an office or shared network, you can ask the network "
    "administrator to run a scan across the network looking for misconfigured or infected "
    "devices. Performance and security by a content delivery network. Your IP address has "
    "been logged for security reasons. Please enable cookies and reload the page."
)
NAV = ["Home", "World", "Politics", "Business", "Science", "Culture", "Sport", "Opinion"]
FOOTER = (
    "Copyright 2017 {site}. All rights reserved. Terms of use | Privacy policy | "
    "Cookie settings | Contact us | Advertise with us"
)


def _sentence(rng: random.Random) -> str:
    a, b = rng.sample(NOUNS, 2)
    parts = [
        rng.choice(CONNECTORS) if rng.random() < 0.3 else "",
        f"the {rng.choice(ADJECTIVES)} {a}",
        rng.choice(ADVERBS) if rng.random() < 0.3 else "",
        rng.choice(VERBS),
        f"a {rng.choice(ADJECTIVES)} {b}",
        rng.choice(PLACES) if rng.random() < 0.5 else "",
        f"after {rng.randint(2, 40)} {rng.choice(['days', 'weeks', 'months', 'meetings'])}"
        if rng.random() < 0.3
        else "",
    ]
    text = " ".join(p for p in parts if p)
    return text[0].upper() + text[1:] + "."


def article_text(rng: random.Random, paragraphs: int) -> list[str]:
    return [" ".join(_sentence(rng) for _ in range(rng.randint(4, 7))) for _ in range(paragraphs)]


def near_copy(paragraphs: list[str], rng: random.Random, every: int = 120) -> list[str]:
    """Replace about one word in `every` (word 5-gram Jaccard stays around 0.9)."""
    out = []
    for para in paragraphs:
        words = para.split(" ")
        for i in range(len(words)):
            if rng.randrange(every) == 0 and words[i].isalpha():
                words[i] = rng.choice(NOUNS)
        out.append(" ".join(words))
    return out


def render_article(site: str, title: str, paragraphs: list[str], rng: random.Random) -> str:
    nav = "".join(f'<li><a href="/{n.lower()}/">{n}</a></li>' for n in NAV)
    related = "".join(
        f'<li><a href="/related/{rng.randint(1, 999)}.html">{rng.choice(ADJECTIVES).title()} '
        f"{rng.choice(NOUNS)} news</a></li>"
        for _ in range(5)
    )
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | {site}</title></head>
<body>
<header><div class="logo">{site}</div><nav><ul>{nav}</ul></nav>
<div class="subscribe">Subscribe to our newsletter for daily updates</div></header>
<main><article><h1>{title}</h1>
<div class="byline">By {rng.choice(["Anna Reed", "Tom Hale", "Maria Costa", "Li Wei"])}</div>
{body}
</article>
<aside><h3>Related stories</h3><ul>{related}</ul></aside></main>
<footer><p>{FOOTER.format(site=site)}</p></footer>
</body></html>
"""


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class MiniWeb:
    """host (an IP on 127.0.0.0/8) -> path -> Response, plus the dump's submissions."""

    port: int
    hosts: list[str]
    pages: dict[str, dict[str, Response]]
    submissions: list[dict]
    dead_host: str
    malformed_lines: list[str]
    captures: list[Capture] = field(default_factory=list)  # the local archive's holdings
    archive_host: str = "127.0.0.8"

    def url(self, host: str, path: str) -> str:
        return f"http://{host}:{self.port}{path}"


def _html(text: str) -> Response:
    return Response(200, text.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8"})


def build_miniweb(port: int, *, articles: int = 240, seed: int = 2019) -> MiniWeb:
    rng = random.Random(seed)
    hosts = [f"127.0.0.{i}" for i in range(2, 8)]
    dead_host = "127.0.0.9"
    pages: dict[str, dict[str, Response]] = {h: {} for h in hosts}
    for host in hosts:
        pages[host]["/robots.txt"] = Response(
            200, b"User-agent: *\nDisallow: /private/\n", {"Content-Type": "text/plain"}
        )
    links: list[tuple[str, str]] = []  # (url, kind)

    bodies: list[tuple[str, list[str]]] = []
    for i in range(articles):
        host = hosts[i % len(hosts)]
        title = f"{rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS)} {rng.choice(VERBS)} {i}"
        paras = article_text(rng, rng.randint(3, 6))
        path = f"/2017/{i:04d}-{title.split()[1]}.html"
        pages[host][path] = _html(render_article(f"site-{host}", title, paras, rng))
        bodies.append((title, paras))
        links.append((f"http://{host}:{port}{path}", "article"))

    # syndication: exact copies on another host, near copies (small edits) on a third
    for j in range(12):
        title, paras = bodies[j * 7]
        host = hosts[(j * 7 + 1) % len(hosts)]
        path = f"/syndicated/{j:03d}.html"
        pages[host][path] = _html(render_article(f"site-{host}", title, paras, rng))
        links.append((f"http://{host}:{port}{path}", "exact_duplicate"))
    for j in range(12):
        title, paras = bodies[j * 11 + 3]
        host = hosts[(j * 11 + 5) % len(hosts)]
        path = f"/mirror/{j:03d}.html"
        edited = near_copy(paras, rng)
        pages[host][path] = _html(render_article(f"site-{host}", title, edited, rng))
        links.append((f"http://{host}:{port}{path}", "near_duplicate"))

    h0, h1, h2 = hosts[0], hosts[1], hosts[2]
    pages[h0]["/de/stadtrat.html"] = _html(
        render_article("site-de", "Neuer Haushalt", [GERMAN] * 3, rng)
    )
    pages[h1]["/fr/conseil.html"] = _html(
        render_article("site-fr", "Nouveau budget", [FRENCH] * 3, rng)
    )
    pages[h2]["/challenge.html"] = _html(
        f"<html><head><title>Just a moment...</title></head><body><p>{BOTWALL}</p></body></html>"
    )
    pages[h0]["/private/secret.html"] = _html(
        render_article("private", "Hidden", ["x " * 300], rng)
    )
    pages[h1]["/old/0001.html"] = Response(301, b"", {"Location": links[1][0]})
    pages[h2]["/files/annual-report"] = Response(
        200, b"%PDF-1.4\n" + bytes(range(256)) * 8, {"Content-Type": "application/pdf"}
    )
    short = _html(
        "<html><head><title>Short</title></head><body><article><p>Too short to keep.</p></article></body></html>"
    )
    pages[h1]["/brief.html"] = short
    links += [
        (f"http://{h0}:{port}/de/stadtrat.html", "german"),
        (f"http://{h1}:{port}/fr/conseil.html", "french"),
        (f"http://{h2}:{port}/challenge.html", "botwall"),
        (f"http://{h0}:{port}/private/secret.html", "robots"),
        (f"http://{h1}:{port}/old/0001.html", "redirect"),
        (f"http://{h2}:{port}/files/annual-report", "pdf"),
        (f"http://{h1}:{port}/brief.html", "short"),
        (f"http://{h2}:{port}/missing.html", "404"),
        (f"http://{dead_host}:{port}/nothing.html", "dead_host"),
    ]

    base_time = 1_483_228_800  # 2017-01-01
    captures = _dead_links(pages, links, hosts, dead_host, port, base_time, seed)

    submissions = []
    for n, (url, _kind) in enumerate(links):
        score = rng.randint(3, 400)
        submissions.append(_submission(n, url, score, base_time + n * 3600, rng))
        if n % 9 == 0:  # a repost with tracking parameters: the same canonical URL
            submissions.append(
                _submission(
                    10_000 + n,
                    url + "?utm_source=reddit&utm_medium=social",
                    rng.randint(0, 5),
                    base_time + n * 3600 + 60,
                    rng,
                )
            )
    # submissions the harvest must drop
    extra = [
        (links[2][0].replace(".html", "-low.html"), 1, {}),
        ("https://en.wikipedia.org/wiki/Demo_page", 250, {}),
        ("https://en.m.wikipedia.org/wiki/Another_page", 90, {}),
        ("https://i.imgur.com/abc123.jpg", 500, {}),
        (f"http://{h0}:{port}/photo.png", 40, {}),
        (f"http://{h0}:{port}/nsfw.html", 80, {"over_18": True}),
        ("https://www.reddit.com/r/demo/comments/abc/self_post/", 60, {"is_self": True}),
        ("ftp://files.example.org/data.txt", 30, {}),
    ]
    for k, (url, score, flags) in enumerate(extra):
        sub = _submission(20_000 + k, url, score, base_time + k * 77, rng)
        sub.update(flags)
        submissions.append(sub)
    malformed = ['{"id": "broken", "url": ', "not json at all"]
    return MiniWeb(port, hosts, pages, submissions, dead_host, malformed, captures)


PARKED = (
    "<html><head><title>example-news.test is for sale</title></head><body><h1>This domain "
    "is for sale!</h1><p>Buy this domain. The domain example-news.test may be for sale by its "
    "owner. Related searches: news, cheap flights, insurance.</p></body></html>"
)


def _dead_links(pages, links, hosts, dead_host, port, base_time, seed) -> list[Capture]:
    """Links whose live page is gone but whose captures are in the local archive (and two
    that no archive can save). Their own generator: the rest of the web is unchanged."""
    rng = random.Random(seed + 1)

    def url(host: str, path: str) -> str:
        return f"http://{host}:{port}{path}"

    def cap(u: str, when: int, title: str, paras: list[str], status: int = 200) -> Capture:
        body = render_article("site-archived", title, paras, rng).encode("utf-8")
        return Capture(u, when, status, (("Content-Type", "text/html; charset=utf-8"),), body)

    captures: list[Capture] = []
    day = 86_400
    for k in range(8):  # gone (404 today); captured before and after the submission
        u = url(hosts[k % len(hosts)], f"/2016/gone-{k:02d}.html")
        created = base_time + len(links) * 3600
        title = f"Archived {rng.choice(NOUNS)} story {k}"
        captures.append(cap(u, created - 2 * day, title, article_text(rng, rng.randint(3, 5))))
        captures.append(cap(u, created + 90 * day, title + " (updated)", article_text(rng, 3)))
        links.append((u, "dead_recovered"))
    # a parked domain today, an article when it was posted
    parked = url(hosts[3], "/parked.html")
    pages[hosts[3]]["/parked.html"] = _html(PARKED)
    created = base_time + len(links) * 3600
    captures.append(cap(parked, created + day, "Harbour report", article_text(rng, 4)))
    links.append((parked, "parked_recovered"))
    # an archived redirect to the article's new address, both gone today
    old, new = url(hosts[4], "/2016/renamed.html"), url(hosts[4], "/2016/renamed-article.html")
    created = base_time + len(links) * 3600
    captures.append(Capture(old, created - day, 301, (("Location", new),), b""))
    captures.append(cap(new, created, "Renamed article", article_text(rng, 4)))
    links.append((old, "archived_redirect"))
    # only a 404 was ever archived: stays dead
    always = url(hosts[5], "/2016/always-gone.html")
    captures.append(Capture(always, base_time, 404, (("Content-Type", "text/html"),),
                            b"<html><body>Not found</body></html>"))  # fmt: skip
    links.append((always, "archive_miss"))
    # the dead host's page (connection refused today) was archived
    for i, (u, _kind) in enumerate(links):
        if u.startswith(f"http://{dead_host}:"):
            created = base_time + i * 3600
            captures.append(cap(u, created + 3 * day, "Dead host article", article_text(rng, 4)))
    return captures


def _submission(n: int, url: str, score: int, created: int, rng: random.Random) -> dict:
    return {
        "id": f"d{n:05x}",
        "url": url,
        "score": score,
        "created_utc": created,
        "subreddit": rng.choice(["news", "worldnews", "science", "technology", "history"]),
        "is_self": False,
        "over_18": False,
        "title": f"Submission {n}",
        "author": f"user{rng.randint(1, 99)}",
        "num_comments": rng.randint(0, 50),
        "permalink": f"/r/demo/comments/d{n:05x}/",
    }
