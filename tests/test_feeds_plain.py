"""RSS titles and descriptions are plain text: RSS cannot say "this is
text", readers render both as HTML, so markup never reaches them there.
Atom and JSON Feed keep the entry's sanitized HTML as content."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from .factories import make_blog, make_entry

MARKUP = ("<", "&lt;", "&amp;lt;")


def test_rss_titles_and_descriptions_carry_no_markup(client, editor, reporter):
    blog = make_blog(editor=editor, title="Vote <b>count</b>")
    make_entry(blog=blog, user=reporter, headline="Results <em>in</em>",
               body="**Turnout** at [60%](https://example.com/t) <script>x()</script>")
    make_entry(blog=blog, user=reporter, body="No headline: *emphasis* here")
    root = ET.fromstring(client.get(f"/live/{blog.slug}/feed.rss").content)  # noqa: S314 - our own feed
    channel = root.find("channel")
    texts = [channel.findtext("title"), channel.findtext("description")]
    for item in channel.findall("item"):
        texts += [item.findtext("title"), item.findtext("description")]
    for text in texts:
        assert not any(mark in text for mark in MARKUP), text
    items = channel.findall("item")
    assert [i.findtext("title") for i in items] == ["No headline: emphasis here", "Results in"]
    assert items[1].findtext("description") == "Turnout at 60%"
    assert channel.findtext("title") == "Vote count"


def test_atom_and_json_feed_keep_the_html_content(client, editor, reporter):
    blog = make_blog(editor=editor)
    make_entry(blog=blog, user=reporter, headline="H", body="**Turnout** rises")
    atom = client.get(f"/live/{blog.slug}/feed.atom").content.decode()
    assert "&lt;strong&gt;Turnout&lt;/strong&gt;" in atom
    item = client.get(f"/live/{blog.slug}/feed.json").json()["items"][0]
    assert "<strong>Turnout</strong>" in item["content_html"]
