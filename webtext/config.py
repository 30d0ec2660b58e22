"""One typed configuration for every stage.

The YAML file and `--set dotted.key=value` overrides are merged, then validated by pydantic
before any stage runs, so a typo fails in a second with the key's name instead of an hour
into a crawl. Every section forbids unknown keys.

Each stage owns one section class below; add fields there (with a default and a one-line
description) rather than reading ad-hoc keys elsewhere.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the key and what is allowed."""


class Section(BaseModel):
    # inf and nan are refused: `--set fetch.deadline=.inf` would disable the deadline and
    # print back as null, which then does not load
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


# ---------------------------------------------------------------------------- ray
class RayConfig(Section):
    address: str | None = Field(
        None, description="unset: start a local Ray; 'auto' or 'ray://host:port': join a cluster"
    )
    num_cpus: int | None = Field(None, ge=1, description="CPUs for a local Ray (default: all)")


# ------------------------------------------------------------------------- source
class RedditApiSource(Section):
    subreddits: list[str] = Field(min_length=1, description="subreddit names, without r/")
    listing: Literal["top", "new", "hot", "controversial", "search"] = "top"
    time_filter: Literal["all", "year", "month", "week", "day", "hour"] = "all"
    limit: int | None = Field(1000, ge=1, description="submissions per subreddit (None: all)")
    query: str | None = Field(None, description="search query, required for listing=search")
    oauth_url: str | None = Field(None, description="override praw's oauth_url (tests, mirrors)")
    reddit_url: str | None = Field(None, description="override praw's reddit_url")
    search_sort: Literal["relevance", "hot", "top", "new", "comments"] = Field(
        "relevance", description="result order for listing=search"
    )
    client_id: SecretStr | None = Field(
        None, description="used when REDDIT_CLIENT_ID is not set; never printed"
    )
    client_secret: SecretStr | None = Field(
        None, description="used when REDDIT_CLIENT_SECRET is not set; never printed"
    )


class SourceConfig(Section):
    pushshift: list[str] = Field(
        default_factory=list, description="paths or globs of Pushshift-format dumps"
    )
    reddit_api: RedditApiSource | None = None
    strict: bool = Field(False, description="malformed input is an error instead of a count")
    malformed_sample: int = Field(
        20, ge=0, description="malformed lines kept as 'file:line: reason' per source in stats"
    )


# ------------------------------------------------------------------------ harvest
DEFAULT_DOMAIN_BLOCKLIST = [
    # Wikipedia, all languages and the mobile site (GPT-2 removed all Wikipedia documents)
    "wikipedia.org",
    "wikimedia.org",
    "wikiwand.com",
    # Reddit itself
    "reddit.com",
    "redd.it",
    "redditmedia.com",
    "redditstatic.com",
    # image / video / audio hosts
    "imgur.com",
    "gfycat.com",
    "giphy.com",
    "flickr.com",
    "instagram.com",
    "youtube.com",
    "youtu.be",
    "vimeo.com",
    "twitch.tv",
    "streamable.com",
    "soundcloud.com",
    "spotify.com",
    "tinypic.com",
    "photobucket.com",
    "i.redd.it",
    "v.redd.it",
]

DEFAULT_EXTENSION_BLOCKLIST = [
    # images
    "jpg", "jpeg", "png", "gif", "gifv", "bmp", "webp", "svg", "tif", "tiff", "ico",
    # video / audio
    "mp4", "webm", "mov", "avi", "mkv", "flv", "wmv", "mp3", "wav", "ogg", "flac", "m4a",
    # archives, binaries, documents
    "zip", "gz", "tgz", "bz2", "xz", "7z", "rar", "tar", "exe", "dmg", "iso", "apk", "bin",
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx",
]  # fmt: skip


class HarvestConfig(Section):
    min_score: int = Field(3, description="karma threshold (GPT-2: 3)")
    karma: Literal["per_submission", "max", "sum"] = Field(
        "per_submission",
        description="per_submission: some submission >= min_score (GPT-2); max; sum over reposts",
    )
    after: datetime | None = Field(None, description="keep submissions created at/after this")
    before: datetime | None = Field(None, description="keep submissions created before this")
    include_self: bool = False
    include_nsfw: bool = False
    domain_blocklist: list[str] = Field(default_factory=lambda: list(DEFAULT_DOMAIN_BLOCKLIST))
    extension_blocklist: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EXTENSION_BLOCKLIST)
    )
    num_partitions: int = Field(16, ge=1, le=100_000, description="link shards (by domain hash)")
    spill_partitions: int = Field(64, ge=1, description="hash partitions for bounded-memory dedup")

    @field_validator("after", "before")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


# -------------------------------------------------------------------------- fetch
# Product tokens of AI-training / dataset crawlers (operators' published names). A site that
# disallows one of them by name in robots.txt has refused AI training: we honour it too.
DEFAULT_OPTOUT_AGENTS = [
    "GPTBot", "ChatGPT-User", "CCBot", "Google-Extended", "Applebot-Extended", "ClaudeBot",
    "anthropic-ai", "Claude-Web", "meta-externalagent", "FacebookBot", "Bytespider",
    "cohere-ai", "cohere-training-data-crawler", "PerplexityBot", "Amazonbot", "Diffbot",
    "AI2Bot", "Omgilibot", "omgili", "ImagesiftBot", "Timpibot", "YouBot",
]  # fmt: skip


DAY = 86_400.0


class FetchConfig(Section):
    user_agent: str = Field(
        "webtext/0.1 (+https://github.com/webtext/webtext; research crawler)",
        description="sent with every request and matched against robots.txt",
    )
    concurrency: int = Field(32, ge=1, description="requests in flight per crawl task")
    per_host_concurrency: int = Field(1, ge=1)
    # seconds: at most a day, far below what the waits they feed can take (Condition.wait
    # overflows past ~9.2e9 s: a deadline of 1e10 s stopped the watchdog, no deadline held)
    per_host_delay: float = Field(
        1.0, ge=0, le=DAY, description="seconds between requests to one host"
    )
    connect_timeout: float = Field(5.0, gt=0, le=DAY)
    read_timeout: float = Field(10.0, gt=0, le=DAY)
    deadline: float = Field(
        30.0, gt=0, le=DAY, description="total seconds per URL, redirects included"
    )
    max_retries: int = Field(3, ge=0)
    backoff_base: float = Field(0.5, ge=0, le=DAY)
    backoff_max: float = Field(30.0, ge=0, le=DAY)
    max_retry_after: float = Field(120.0, ge=0, le=DAY, description="longest Retry-After honoured")
    max_crawl_delay: float = Field(
        30.0, ge=0, le=DAY, description="longest robots.txt Crawl-delay honoured (longer: capped)"
    )
    max_bytes: int = Field(5_000_000, ge=1024, description="body cap, read and decompressed")
    max_redirects: int = Field(5, ge=0)
    allow_networks: list[str] = Field(
        default_factory=list, description="CIDRs exempt from the private-address guard"
    )
    resolve: dict[str, str] = Field(
        default_factory=dict,
        description="host -> IP used instead of DNS (as curl --resolve); the guard still applies",
    )
    respect_robots: bool = True
    optout_agents: list[str] = Field(
        default_factory=lambda: list(DEFAULT_OPTOUT_AGENTS),
        description="AI-training crawler tokens whose robots.txt disallow opts a URL out ([]: off)",
    )
    warc: bool = Field(True, description="keep raw responses as WARC")
    checkpoint_every: int = Field(50, ge=1, description="pages per in-task checkpoint")
    mode: Literal["live", "archive", "live_then_archive"] = Field(
        "live",
        description="live: the web today; archive: web archives only (a reproducible "
        "snapshot); live_then_archive: archives when the live fetch fails",
    )
    task_cpus: float = Field(
        0.5,
        gt=0,
        le=64,
        description="Ray CPUs reserved per crawl task: below 1, more tasks than cores run, so "
        "a task left waiting on one large polite host does not hold a core idle",
    )

    @field_validator("user_agent")
    @classmethod
    def _user_agent(cls, value: str) -> str:
        """Sent as a header and matched against robots.txt groups: printable ASCII, not
        empty (a CR/LF would fail every request; an empty token matches no group)."""
        value = value.strip()
        if not value:
            raise ValueError("empty")
        if not all(" " <= c <= "~" for c in value):
            raise ValueError("printable ASCII only (no control or non-ASCII characters)")
        if not value.split("/")[0].strip():
            raise ValueError(f"no product token before '/' (robots.txt matches it): {value!r}")
        return value

    @field_validator("resolve")
    @classmethod
    def _resolve(cls, value: dict[str, str]) -> dict[str, str]:
        """Host names as the fetcher reads them (IDNA, lower-case); values IP addresses."""
        from webtext.uri import BadUrl, parse

        out = {}
        for host, ip in value.items():
            try:
                ipaddress.ip_address(str(ip))
            except ValueError as exc:
                raise ValueError(f"{host}: not an IP address: {ip!r}") from exc
            try:
                name = parse(f"http://{host}/").host
            except BadUrl as exc:
                raise ValueError(f"not a host name: {host!r} ({exc})") from exc
            out[name] = str(ip)
        return out

    @field_validator("allow_networks")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"not a CIDR network: {cidr!r}") from exc
        return value


# ------------------------------------------------------------------------ archive
class ArchiveSource(Section):
    """One web archive: `wayback` (CDX server API + `id_` replay, e.g. the Wayback Machine
    or a pywb collection) or `commoncrawl` (a CDX index server + WARC range requests)."""

    kind: Literal["wayback", "commoncrawl"]
    cdx_url: str = Field(description="wayback: the CDX endpoint; commoncrawl: the index server")
    replay_url: str | None = Field(None, description="wayback: GET {replay_url}/{ts}id_/{url}")
    indexes: list[str] = Field(
        default_factory=list, description="commoncrawl: crawls queried, e.g. CC-MAIN-2017-51"
    )
    data_url: str | None = Field(None, description="commoncrawl: GET {data_url}/{filename}")
    rate_per_s: float = Field(1.0, gt=0, description="requests per second to this archive")
    concurrency: int = Field(2, ge=1, description="requests in flight per crawl task")

    @field_validator("cdx_url", "replay_url", "data_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _complete(self) -> ArchiveSource:
        if self.kind == "wayback" and not self.replay_url:
            raise ValueError("a wayback source needs replay_url")
        if self.kind == "commoncrawl" and (not self.indexes or not self.data_url):
            raise ValueError("a commoncrawl source needs indexes and data_url")
        return self

    @property
    def name(self) -> str:
        return self.kind


def _default_archive_sources() -> list[ArchiveSource]:
    return [
        ArchiveSource(
            kind="wayback",
            cdx_url="https://web.archive.org/cdx/search/cdx",
            replay_url="https://web.archive.org/web",
        ),
        ArchiveSource(
            kind="commoncrawl",
            cdx_url="https://index.commoncrawl.org",
            indexes=["CC-MAIN-2017-51"],
            data_url="https://data.commoncrawl.org",
        ),
    ]


class ArchiveConfig(Section):
    sources: list[ArchiveSource] = Field(
        default_factory=_default_archive_sources, description="archives, tried in order"
    )
    target_date: date | None = Field(
        None, description="captures closest to this date; null: each link's first_created_utc"
    )
    max_distance_days: int = Field(365, ge=0, description="farthest capture from the target")


# ------------------------------------------------------------------------ extract
class ExtractConfig(Section):
    extractor: Literal[
        "combined", "trafilatura", "readability", "resiliparse", "newspaper", "ensemble"
    ] = Field(
        "combined",
        description="combined: page blocks kept by a learned vote of trafilatura, readability "
        "and resiliparse; ensemble: trafilatura paragraphs confirmed by a second extractor",
    )
    timeout: float = Field(20.0, gt=0, description="seconds per page before it is abandoned")
    min_chars: int = Field(1, ge=0, description="shorter text counts as extract_empty")
    isolation: Literal["process", "inline"] = Field(
        "process", description="process: a killable worker subprocess; inline: no time limit"
    )
    ensemble_voters: list[Literal["readability", "trafilatura_precision", "newspaper"]] = Field(
        default_factory=lambda: ["readability", "trafilatura_precision"],
        min_length=1,
        description="extractors that confirm ensemble paragraphs, consulted lazily in order",
    )
    worker_max_pages: int = Field(5000, ge=1, description="pages before a worker is recycled")
    worker_memory_mb: int = Field(4096, ge=0, description="address-space cap per worker (0: none)")


# -------------------------------------------------------------------------- clean
class CleanConfig(Section):
    languages: list[str] = Field(default_factory=lambda: ["en"])
    min_language_prob: float = Field(0.9, ge=0, le=1)
    language_sample_chars: int = Field(
        1000, ge=100, description="language ID reads at most this many chars (3 chunks)"
    )
    language_seed: int = Field(0, description="langdetect seed: same page, same language")
    language_backend: Literal["langdetect", "langid"] = Field(
        "langdetect", description="langid: py3langid (pip install py3langid), faster"
    )
    min_tokens: int = Field(128, ge=0, description="OpenWebText dropped < 128 GPT-2 tokens")
    max_chars: int = Field(1_000_000, ge=1)
    min_alpha_ratio: float = Field(0.6, ge=0, le=1)
    min_mean_word_length: float = Field(3.0, ge=0)
    max_mean_word_length: float = Field(10.0, ge=0)
    max_repeated_line_fraction: float = Field(
        0.7, ge=0, le=1, description="chars in copies of earlier lines (Gopher: 0.2)"
    )
    max_repeated_ngram_fraction: float = Field(
        0.8, ge=0, le=1, description="chars in copies of earlier word n-grams"
    )
    repeated_ngram_size: int = Field(10, ge=1, description="word n-gram size of that filter")
    max_boilerplate_line_fraction: float = Field(0.4, ge=0, le=1)
    botwall: bool = Field(True, description="drop bot walls, soft 404s, consent and login walls")
    botwall_max_fraction: float = Field(
        0.3, gt=0, le=1, description="share of the text in wall-phrase sentences that drops"
    )
    botwall_title_max_words: int = Field(
        300, ge=0, description="a wall title ('Page not found') drops pages shorter than this"
    )
    wikipedia_mirrors: list[str] = Field(default_factory=list, description="extra mirror hosts")
    wikipedia_text: str | None = Field(None, description="Wikipedia text file for content match")
    wikipedia_overlap: float = Field(0.5, gt=0, le=1, description="8-gram overlap to drop")
    decontaminate: list[str] = Field(default_factory=list, description="test files to remove")
    decontaminate_overlap: float = Field(0.5, gt=0, le=1)
    pii: Literal["redact", "drop", "off"] = Field(
        "redact",
        description="personal data: redact e-mails/phones/IPs, drop dense pages (reason pii), off",
    )
    pii_max_density: float = Field(
        0.02, gt=0, le=1, description="drop: PII matches per word above which a page is dropped"
    )


# -------------------------------------------------------------------------- dedup
class DedupConfig(Section):
    threshold: float = Field(0.8, gt=0, lt=1, description="Jaccard for near duplicates")
    num_perm: int = Field(128, ge=8, le=1024)
    shingle_size: int = Field(5, ge=1, description="word n-gram shingles")
    seed: int = 1
    bands: int | None = Field(None, ge=1, description="LSH bands (default: chosen for threshold)")
    rows: int | None = Field(None, ge=1)
    execution: Literal["auto", "local", "ray"] = "auto"
    ray_min_documents: int = Field(200_000, ge=0, description="auto switches to ray above this")
    num_buckets: int = Field(16, ge=1, description="hash partitions of band buckets on ray")
    scheme: Literal["affine32", "legacy"] = Field(
        "affine32", description="datasketch MinHash scheme: affine32 (>= 2.0) or legacy (< 2.0)"
    )
    false_negative_weight: float = Field(
        0.8, gt=0, lt=1, description="weight of missed pairs when choosing bands x rows"
    )
    batch_size: int = Field(1024, ge=1, description="documents per signature batch")
    prefer_live: bool = Field(
        True, description="a live copy survives over archived copies of the same content"
    )


# ----------------------------------------------------------------------- tokenize
class TokenizeConfig(Section):
    shard_tokens: int = Field(
        100_000_000, ge=1024, lt=2**31, description="max tokens per shard file (int32 offsets)"
    )
    val_fraction: float = Field(0.0005, ge=0, lt=1)
    num_threads: int = Field(2, ge=1, description="tiktoken threads inside a task")
    batch_size: int = Field(1024, ge=1, description="documents encoded per batch in a task")
    keep_intermediate: bool = Field(
        False, description="keep _work/tokenize/ (per-input token files) after success"
    )


# -------------------------------------------------------------------------- train
class TrainConfig(Section):
    preset: Literal["tiny", "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"] = "tiny"
    max_steps: int = Field(1000, ge=1)
    out_dir: str | None = Field(None, description="default: <run_dir>/train")
    resume: bool = Field(
        True,
        description="false: start at step 0; the old checkpoints and log in out_dir are moved "
        "to out_dir/replaced-<UTC time>/ (for one command: --set train.resume=false)",
    )
    seed: int = 1337
    seq_len: int | None = Field(None, ge=8, description="default: the preset's context")
    micro_batch_size: int = Field(8, ge=1)
    batch_tokens: int | None = Field(None, ge=1, description="tokens per optimizer step")
    learning_rate: float = Field(6e-4, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    warmup_steps: int = Field(100, ge=0)
    weight_decay: float = Field(0.1, ge=0)
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = Field(1.0, ge=0)
    eval_every: int = Field(100, ge=1)
    eval_batches: int = Field(20, ge=1, description="val windows = this x micro_batch_size")
    log_every: int = Field(10, ge=1)
    checkpoint_every: int = Field(500, ge=1)
    keep_checkpoints: int = Field(2, ge=0, description="newest checkpoints kept (0: all)")
    compile: bool = False
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    tensorboard: bool = False


# ------------------------------------------------------------------------ overlap
class OverlapConfig(Section):
    ngram: int = Field(8, ge=1)
    false_positive_rate: float = Field(1e-8, gt=0, lt=1)
    partition_bytes: int = Field(
        512 * 2**20, ge=2**20, description="Bloom partitions: max 8-byte hashes one task holds"
    )
    cache_dir: str | None = Field(
        None, description="Bloom filters of reference files (default ~/.cache/webtext/overlap)"
    )


# ------------------------------------------------------------------------- optout
class OptoutConfig(Section):
    lists: list[str] = Field(
        default_factory=list,
        description="takedown files (domains, URL prefixes, URLs): applied at harvest and dedup",
    )


# ------------------------------------------------------------------------- report
class ReportConfig(Section):
    enabled: bool = True
    top_domains: int = Field(20, ge=1)


class Config(Section):
    run_dir: str = Field("runs/default", description="every output of the run goes here")
    ray: RayConfig = Field(default_factory=RayConfig)
    source: SourceConfig = Field(default_factory=SourceConfig)
    harvest: HarvestConfig = Field(default_factory=HarvestConfig)
    fetch: FetchConfig = Field(default_factory=FetchConfig)
    archive: ArchiveConfig = Field(default_factory=ArchiveConfig)
    extract: ExtractConfig = Field(default_factory=ExtractConfig)
    clean: CleanConfig = Field(default_factory=CleanConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    tokenize: TokenizeConfig = Field(default_factory=TokenizeConfig)
    train: TrainConfig | None = None
    overlap: OverlapConfig = Field(default_factory=OverlapConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    optout: OptoutConfig = Field(default_factory=OptoutConfig)

    @field_validator("run_dir")
    @classmethod
    def _absolute_run_dir(cls, value: str) -> str:
        """Absolute, so Ray workers (other folders, other nodes) write to the same place;
        a folder or a path that can become one (an empty value is not the current one)."""
        if not value.strip():
            raise ValueError("must name a folder, got an empty path")
        if "\x00" in value:
            raise ValueError("contains a NUL character")
        path = Path(value).expanduser().absolute()
        for existing in (path, *path.parents):
            if existing.exists():
                if not existing.is_dir():
                    what = "is" if existing == path else f"is inside {existing}, which is"
                    raise ValueError(f"{path} {what} a file, not a folder")
                break
        return str(path)

    def fingerprint(self, *sections: str) -> str:
        """Hash of the named sections, so a stage knows if its finished output still fits."""
        data = {name: _jsonable(getattr(self, name)) for name in sections}
        blob = json.dumps(data, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_yaml(self) -> str:
        return yaml.safe_dump(
            json.loads(self.model_dump_json()), sort_keys=False, default_flow_style=False
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return json.loads(value.model_dump_json())
    return value


# ------------------------------------------------------------------------ loading
def parse_override(item: str) -> tuple[list[str], Any]:
    """`a.b.c=value` -> (['a','b','c'], parsed value); the value is read as YAML."""
    if "=" not in item:
        raise ConfigError(f"--set expects dotted.key=value, got {item!r}")
    key, raw = item.split("=", 1)
    parts = [p for p in key.strip().split(".")]
    if not key.strip() or any(not p for p in parts):
        raise ConfigError(f"--set has an empty key segment in {item!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        shown = REDACTED if _SECRET_KEY.search(key) else repr(raw)
        raise ConfigError(f"--set {key}: value {shown} is not valid YAML") from None
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for item in overrides:
        parts, value = parse_override(item)
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                raise ConfigError(f"--set {'.'.join(parts)}: {where} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the section at `loc` (minus the offending key), for error messages."""
    current: Any = model
    for part in loc[:-1]:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return []


REDACTED = "**********"
_SECRET_KEY = re.compile(r"secret|password|passwd|token|api_?key|credential|client_id", re.I)
# sections holding secret fields: a value written in place of the whole section (a secret
# pasted one line too high) is not echoed either
_SECRET_SECTIONS = frozenset({"reddit_api"})


def redact(value: Any, key: str = "") -> Any:
    """`value` with every secret-looking key's value (and a SecretStr) replaced."""
    if isinstance(value, SecretStr) or (key and _SECRET_KEY.search(key)):
        return REDACTED if value is not None else None
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


def format_validation_error(exc: ValidationError, model: type[BaseModel] = None) -> str:
    """One line per error naming the key; inputs echoed with secrets redacted."""
    model = model or Config
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "<root>"
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, loc)
            lines.append(f"{key}: unknown key; allowed here: {', '.join(allowed)}")
        else:
            got = redact(err.get("input"), str(loc[-1]) if loc else "")
            if loc and str(loc[-1]) in _SECRET_SECTIONS and not isinstance(got, dict):
                got = REDACTED
            msg = err["msg"] if not any(_SECRET_KEY.search(str(p)) for p in loc) else "invalid"
            lines.append(f"{key}: {msg} (got {got!r})")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def build_config(data: dict[str, Any] | None, overrides: list[str] | None = None) -> Config:
    data = dict(data or {})
    data = apply_overrides(data, list(overrides or []))
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Read YAML at `path` (or start from defaults when None), apply overrides, validate."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:  # its message quotes the line, which may hold a secret
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        data = loaded
    return build_config(data, overrides)
