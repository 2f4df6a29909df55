"""Markdown rendering: sanitized HTML, and a customer's images shown as links."""

from __future__ import annotations

from deskpilot.core.markdown import render_markdown, without_remote_images


def test_raw_html_and_script_links_are_not_rendered() -> None:
    html = render_markdown(
        "<script>alert(1)</script> [x](javascript:alert(1)) ![y](https://e/y.png)"
    )
    assert "<script" not in html
    assert 'href="javascript' not in html
    assert '<img src="https://e/y.png" alt="y">' in html


def test_images_become_links_with_their_alt_text_escaped() -> None:
    html = without_remote_images(
        render_markdown('![a <b> "c"](https://e/x.png "title") and ![](http://e/z)')
    )
    assert "<img" not in html
    assert (
        '<a href="https://e/x.png" rel="noopener noreferrer nofollow">Image: a &lt;b&gt; &quot;c&quot;</a>'
        in html
    )
    assert '<a href="http://e/z" rel="noopener noreferrer nofollow">Image (not loaded)</a>' in html


def test_text_without_images_is_unchanged() -> None:
    html = render_markdown("**bold** and a [link](https://e/)")
    assert without_remote_images(html) == html
