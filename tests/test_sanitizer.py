"""Rendered Markdown never carries script: a corpus of XSS payloads."""

import re

import pytest

from posts.domain.rendering import detect_embed, plain_text, render_markdown

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<img src=\"javascript:alert('x')\">",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<iframe src=javascript:alert(1)></iframe>",
    "<body onload=alert(1)>",
    "<a href=\"javascript:alert(1)\">click</a>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    "![x](javascript:alert(1))",
    "<a href=\"&#106;avascript:alert(1)\">x</a>",
    "<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
    "<div style=\"background:url(javascript:alert(1))\">x</div>",
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<object data=\"javascript:alert(1)\"></object>",
    "<embed src=javascript:alert(1)>",
    "<form action=javascript:alert(1)><button>x</button></form>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<a href=x onmouseover=alert(1)>hover</a>",
    "<p title=\"x\" onclick=\"alert(1)\">para</p>",
    "<style>body{background:red}</style>",
    "<base href=\"javascript:alert(1)//\">",
    "<link rel=stylesheet href=javascript:alert(1)>",
    "https://x.com/a/status/1\"><script>alert(1)</script>",
    "<https://www.youtube.com/watch?v=abcdefgh123\"onmouseover=alert(1)>",
]

FORBIDDEN = [
    re.compile(r"<\s*(script|iframe|object|embed|form|input|style|meta|base|link|svg|math|body)\b", re.I),
    re.compile(r"\son\w+\s*=", re.I),
    re.compile(r"(href|src)\s*=\s*\"?\s*(javascript|vbscript|data):", re.I),
    re.compile(r"style\s*=", re.I),
]


def test_corpus_has_at_least_twenty_payloads():
    assert len(XSS_PAYLOADS) >= 20


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_payload_renders_without_script(payload):
    html = render_markdown(f"Before\n\n{payload}\n\nAfter")
    for pattern in FORBIDDEN:
        assert not pattern.search(html), (pattern.pattern, html)
    assert "Before" in html


def test_links_get_a_safe_rel():
    html = render_markdown("[source](https://example.org/report)")
    assert 'href="https://example.org/report"' in html
    assert 'rel="noopener noreferrer nofollow ugc"' in html


def test_markdown_formatting_survives_sanitizing():
    html = render_markdown("> quote\n\n- one\n- two\n\n**bold** and *em*\n\n![chart](https://example.org/c.png)")
    assert "<blockquote>" in html and "<li>one</li>" in html
    assert "<strong>bold</strong>" in html and "<em>em</em>" in html
    assert '<img alt="chart" src="https://example.org/c.png">' in html


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        ("https://www.youtube.com/watch?v=aqz-KE-bpKQ", "youtube"),
        ("https://youtu.be/aqz-KE-bpKQ", "youtube"),
        ("https://x.com/newsdesk/status/1790000000000000000", "x"),
        ("https://twitter.com/newsdesk/status/1790000000000000000", "x"),
        ("https://bsky.app/profile/news.example/post/3kabc", "bluesky"),
        ("https://example.org/watch?v=1", None),
        ("javascript:alert(1)//youtube.com/watch?v=abcdefgh", None),
    ],
)
def test_embeddable_posts_are_recognised(url, provider):
    found = detect_embed(url)
    assert (found or {}).get("provider") == provider


def test_a_lone_link_to_a_post_becomes_an_embed_card():
    html = render_markdown("Watch:\n\nhttps://youtu.be/aqz-KE-bpKQ")
    assert 'class="embed embed--youtube"' in html and 'data-embed-id="aqz-KE-bpKQ"' in html
    inline = render_markdown("See https://youtu.be/aqz-KE-bpKQ for more")
    assert "embed--youtube" not in inline


def test_plain_text_strips_markup():
    assert plain_text(render_markdown("**Polls** <script>x</script>closed &amp; counted")) == "Polls closed & counted"
