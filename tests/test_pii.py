"""PII redaction: a labelled corpus of positives and tricky negatives (webtext/clean/pii.py)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from webtext.clean.base import FilterChain
from webtext.clean.pii import PLACEHOLDERS, PiiFilter, find_pii, redact
from webtext.clean.stage import clean_table
from webtext.schemas import PAGES_SCHEMA

# (sentence, the personal datum in it, kind)
POSITIVES = [
    ("Write to jane.doe@example.com for details.", "jane.doe@example.com", "email"),
    ("Contact: JOHN_SMITH+news@mail.example.co.uk", "JOHN_SMITH+news@mail.example.co.uk", "email"),
    ("mail a@b.io now", "a@b.io", "email"),
    ("(questions: first-last@sub.domain.org)", "first-last@sub.domain.org", "email"),
    ("<info@company.de>", "info@company.de", "email"),
    ("reach us at support@help-desk.example.travel.", "support@help-desk.example.travel", "email"),
    ("e-mail: m.mueller@uni-heidelberg.de;", "m.mueller@uni-heidelberg.de", "email"),
    ("Sent by x_y.z%tag@example.net yesterday", "x_y.z%tag@example.net", "email"),
    ("user123@gmail.com wrote:", "user123@gmail.com", "email"),
    ("CC: o'neil@example.ie", "neil@example.ie", "email"),
    ("press@nytimes.com, tips@nytimes.com", "press@nytimes.com", "email"),
    ("press@nytimes.com, tips@nytimes.com", "tips@nytimes.com", "email"),
    ("Email dr.who@tardis.space today", "dr.who@tardis.space", "email"),
    ("Bob.O.Brien@Example.COM.", "Bob.O.Brien@Example.COM", "email"),
    ("abuse@[not-a-domain] but real@abuse.net", "real@abuse.net", "email"),
    ("Call +1 (555) 123-4567 now", "+1 (555) 123-4567", "phone"),
    ("Call (555) 123-4567 now", "(555) 123-4567", "phone"),
    ("Phone: 555-123-4567.", "555-123-4567", "phone"),
    ("tel 555.123.4567", "555.123.4567", "phone"),
    ("Toll free 1-800-555-0199.", "1-800-555-0199", "phone"),
    ("dial 212 555 0123 for the desk", "212 555 0123", "phone"),
    ("+1-202-555-0143 is the office", "+1-202-555-0143", "phone"),
    ("London: +44 20 7946 0958", "+44 20 7946 0958", "phone"),
    ("London: 020 7946 0958", "020 7946 0958", "phone"),
    ("UK mobile 07700 900123", "07700 900123", "phone"),
    ("+44 7700 900123 (mobile)", "+44 7700 900123", "phone"),
    ("Berlin +49 30 12345678", "+49 30 12345678", "phone"),
    ("Berlin 030 12345678", "030 12345678", "phone"),
    ("Munich +49 (0)89 123456", "+49 (0)89 123456", "phone"),
    ("Paris +33 1 23 45 67 89", "+33 1 23 45 67 89", "phone"),
    ("Paris 01 23 45 67 89", "01 23 45 67 89", "phone"),
    ("Sydney +61 2 9876 5432", "+61 2 9876 5432", "phone"),
    ("mobile 0412 345 678", "0412 345 678", "phone"),
    ("Mumbai +91 98765 43210", "+91 98765 43210", "phone"),
    ("Tokyo +81-3-1234-5678", "+81-3-1234-5678", "phone"),
    ("Tokyo 03-1234-5678", "03-1234-5678", "phone"),
    ("Madrid +34 912 345 678", "+34 912 345 678", "phone"),
    ("Rome +39 06 1234 5678", "+39 06 1234 5678", "phone"),
    ("Amsterdam +31 20 123 4567", "+31 20 123 4567", "phone"),
    ("Sao Paulo +55 11 91234-5678", "+55 11 91234-5678", "phone"),
    ("Mexico +52 55 1234 5678", "+52 55 1234 5678", "phone"),
    ("Zurich +41 44 668 18 00", "+41 44 668 18 00", "phone"),
    ("Stockholm +46 8 123 456 78", "+46 8 123 456 78", "phone"),
    ("Dublin +353 1 234 5678", "+353 1 234 5678", "phone"),
    ("Johannesburg +27 11 123 4567", "+27 11 123 4567", "phone"),
    ("Seoul +82 2-123-4567", "+82 2-123-4567", "phone"),
    ("Beijing +86 10 1234 5678", "+86 10 1234 5678", "phone"),
    ("Toronto +1 416 555 0187", "+1 416 555 0187", "phone"),
    ("Call +14155550132 anytime", "+14155550132", "phone"),
    ("Fax: (312) 555-0199", "(312) 555-0199", "phone"),
    ("Vienna 01 234 5678", "01 234 5678", "phone"),
    ("server at 192.168.1.20 answered", "192.168.1.20", "ipv4"),
    ("from 10.0.0.1", "10.0.0.1", "ipv4"),
    ("IP 8.8.8.8 resolves", "8.8.8.8", "ipv4"),
    ("client 203.0.113.195, proxy", "203.0.113.195", "ipv4"),
    ("(ip: 172.16.254.1)", "172.16.254.1", "ipv4"),
    ("banned 255.255.255.255 too", "255.255.255.255", "ipv4"),
    ("host 127.0.0.1:8080 listens", "127.0.0.1", "ipv4"),
    ("Logged in from 81.2.69.142.", "81.2.69.142", "ipv4"),
    ("addr=100.64.0.7", "100.64.0.7", "ipv4"),
    ("visitors like 198.51.100.23 and others", "198.51.100.23", "ipv4"),
    ("v6 2001:db8::1 works", "2001:db8::1", "ipv6"),
    (
        "full 2001:0db8:85a3:0000:0000:8a2e:0370:7334 address",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "ipv6",
    ),  # noqa: E501
    ("link-local fe80::1ff:fe23:4567:890a here", "fe80::1ff:fe23:4567:890a", "ipv6"),
    ("loopback ::1 only", "::1", "ipv6"),
    ("mapped ::ffff:192.0.2.128 seen", "::ffff:192.0.2.128", "ipv6"),
    ("prefix 2001:db8:abcd:12::ff", "2001:db8:abcd:12::ff", "ipv6"),
    ("[2606:4700:4700::1111]:53 resolver", "2606:4700:4700::1111", "ipv6"),
    ("peer 2a00:1450:4001:82b::200e.", "2a00:1450:4001:82b::200e", "ipv6"),
    ("GW FE80::0202:B3FF:FE1E:8329", "FE80::0202:B3FF:FE1E:8329", "ipv6"),
]

# strings that hold no personal datum, though they look like one
NEGATIVES = [
    "Published 2023-10-05 at 14:30.",
    "On 10/05/2023 the vote was held.",
    "It happened on 5.10.2023 in Berlin.",
    "The meeting runs 09:00-17:30 daily.",
    "Time stamp 12:30:45 recorded.",
    "Timecode 01:02:03:04 in the edit.",
    "It costs $1,234.56 or EUR 1.299,00.",
    "Price: 19.99 USD, was 24.99.",
    "Revenue grew to $12.5 billion in 2022.",
    "ISBN 978-3-16-148410-0 is the book.",
    "ISBN-10 0-306-40615-2 also.",
    "ISBN 9780306406157 without hyphens.",
    "See doi:10.1038/nphys1170 for details.",
    "DOI 10.1000/182 is the handbook.",
    "https://doi.org/10.1145/3366423.3380165 paper",
    "Upgrade to version 2.10.1 today.",
    "Python 3.11.4 and numpy 1.26.0 installed.",
    "Release v1.2.3-rc.1 is out.",
    "Coordinates 40.7128, -74.0060 mark NYC.",
    "Located at 51.5074 N, 0.1278 W.",
    "Commit 3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f fixed it.",
    "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "The population is 8,336,817 people.",
    "About 1 000 000 visitors came.",
    "Between 1999-2004 sales rose 12.5%.",
    "Score was 3-2 after 90 minutes.",
    "Pi is 3.14159265358979.",
    "The zip code 90210 is famous.",
    "Order #123456789 shipped.",
    "Call of Duty 4: Modern Warfare",
    "Chapter 12.3.4 explains it.",
    "Ratio 16:9 and 4:3 screens.",
    "Bible verse John 3:16 is quoted.",
    "C++ uses std::vector<int> here.",
    "The :: operator in Rust paths like a::b::c.",
    "MAC 00:1A:2B:3C:4D:5E is a device, not here.",
    "Temperature 23.5 C at 1013 hPa.",
    "He ran 100 m in 9.58 s.",
    "Use @decorator syntax in Python.",
    "Follow @nytimes on social media.",
    "Email addresses look like name at example dot com.",
    "The equation 2+2=4 holds.",
    "Room 4.12, building 3.",
    "Flight LH 400 departs 10:25.",
    "Matrix size 1024x768 pixels.",
    "Patent US 9,876,543 B2 granted.",
    "Serial 12-3456-7890-12 is printed.",
    "Account balance 0.00",
    "Between 2001 and 2024 there were 23 editions.",
    "The year 2000, then 2001, 2002.",
    "Version 10.0.19045 of Windows.",
    "Lat/long 48.8566/2.3522 Paris.",
    "Page 123-456 of the journal.",
    "Tel Aviv is a city; 'tel' alone is not a number.",
    "Invoice 2023-0042-17 paid.",
    "Spent 1,500,000 on ads in Q3 2021.",
    "Formula C6H12O6 is glucose.",
    "Rated 4.5/5 by 1,024 users.",
    "In C++, Face::Add and Bad::Cafe are names; so is ac::dc.",
    "The classic example dead:beef:: has no digit at all.",
    "Views went up +15 000 000 this year.",
    "Growth of +12 345 678 units (French grouping).",
    "A gain of +20 000 000 euros.",
]


def test_corpus_is_large_enough():
    assert len(POSITIVES) + len(NEGATIVES) >= 100
    assert {k for _, _, k in POSITIVES} == {"email", "phone", "ipv4", "ipv6"}


def test_recall_on_positives():
    hits = 0
    missed = []
    for sentence, datum, kind in POSITIVES:
        found = {(k, sentence[a:b]) for k, a, b in find_pii(sentence)}
        if (kind, datum) in found:
            hits += 1
        else:
            missed.append((sentence, datum, sorted(found)))
    recall = hits / len(POSITIVES)
    assert recall >= 0.95, (recall, missed)


@pytest.mark.parametrize("sentence", NEGATIVES)
def test_no_redaction_on_negatives(sentence):
    text, counts = redact(sentence)
    assert text == sentence and not counts, find_pii(sentence)


def test_redaction_replaces_with_fixed_placeholders():
    text, counts = redact("Mail a@b.io or c@d.org, call +44 20 7946 0958, host 10.0.0.1, ::1.")
    assert text == (
        "Mail <EMAIL_ADDRESS> or <EMAIL_ADDRESS>, call <PHONE_NUMBER>, host <IP_ADDRESS>, "
        "<IP_ADDRESS>."
    )
    assert counts == {"email": 2, "phone": 1, "ipv4": 1, "ipv6": 1}
    assert set(PLACEHOLDERS) == {"email", "phone", "ipv4", "ipv6"}


def _pages(texts):
    rows = [
        {name: None for name in PAGES_SCHEMA.names}
        | {
            "url": f"http://x.test/{i}",
            "canonical_url": f"http://x.test/{i}",
            "fetch_status": "ok",
            "text": t,
        }  # fmt: skip
        for i, t in enumerate(texts)
    ]
    return pa.Table.from_pylist(rows, schema=PAGES_SCHEMA)


def test_clean_table_writes_redacted_text_and_drop_mode_drops_dense_pages():
    prose = "This is an ordinary paragraph of prose about the weather and the town. " * 5
    directory = " ".join(f"staff{i}@example.org" for i in range(20))
    table = _pages([prose + "Write to jane@example.com.", directory, prose])
    pii = PiiFilter("redact")
    kept, dropped = clean_table(table, FilterChain([pii]))
    texts = kept["text"].to_pylist()
    assert kept.num_rows == 3 and dropped.num_rows == 0
    assert any(t.endswith("Write to <EMAIL_ADDRESS>.") for t in texts)
    assert pii.counts == {"email": 21}

    pii = PiiFilter("drop", max_density=0.02)
    kept, dropped = clean_table(table, FilterChain([pii]))
    assert kept.num_rows == 2 and dropped["reason"].to_pylist() == ["clean:pii"]
    assert "email 20" in dropped["detail"][0].as_py()
    assert any("<EMAIL_ADDRESS>" in t for t in kept["text"].to_pylist())  # sparse: redacted

    pii = PiiFilter("off")
    kept, _ = clean_table(table, FilterChain([pii]))
    assert any("jane@example.com" in t for t in kept["text"].to_pylist()) and not pii.counts


@pytest.mark.parametrize(
    "sentence, datum",
    [
        ("Schreiben Sie an jörg.müller@example.de bitte.", "jörg.müller@example.de"),
        ("orders: info@bücher.de", "info@bücher.de"),
        ("почта: иван@пример.рф.", "иван@пример.рф"),
        ("ask user@example.xn--p1ai now", "user@example.xn--p1ai"),
        ("mail 用户@例子.广告 today", "用户@例子.广告"),
    ],
)
def test_internationalised_email_addresses_are_found(sentence, datum):
    """Addresses with Unicode (EAI, IDN) local parts and domains are personal data too."""
    assert [sentence[a:b] for k, a, b in find_pii(sentence) if k == "email"] == [datum]
