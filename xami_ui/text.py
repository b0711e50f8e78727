"""Text from a file or a URL shown as text: never as markdown, HTML, a link or a Streamlit directive."""

from __future__ import annotations

import re

# Characters that make markdown, HTML or a Streamlit directive anywhere in a line: links and images
# ([ ]), autolinks and HTML (< > &), emphasis and strike (* ~), code (`), tables (|), $maths$, escapes.
# Ordinary punctuation (parentheses, hyphens, dots, commas) stays as it is, so messages read normally.
_ALWAYS = re.compile(r"([\\`*\[\]<>&|~$@])")
_UNDERSCORE_AT_EDGE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")  # "a_b" is never emphasis; "_a_" is
_DIRECTIVE_COLON = re.compile(r":(?=\S)")  # :icon:, :red[...], :material/x:, http://; "key: value" stays
_WWW = re.compile(r"(?i)\b(www)\.")  # GFM's bare www. links
_JOIN = "\u2060"  # an invisible word joiner
_SCHEME_SLASHES = re.compile(r":(?=//)")
# In markdown with unsafe_allow_html, HTML-escaped text is still parsed as markdown ([a](b) is a link):
# HTML's specials get their entities, markdown's become numeric character references.
_HTML_SPECIAL = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
_HTML_OR_MD = re.compile(r"""[&<>"'\\`*_\[\]()|~$:!#@]""")
_BLOCK_START = re.compile(r"^(\s*)([#>+=-]|\d+(?=[.)]))")  # a heading, quote, list or rule where the text opens a block
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")
_BACKTICKS = re.compile(r"`+")


def _one_line(text: object) -> str:
    """The text on one line: a line break in data would start a heading, list or table."""
    return _LINE_BREAKS.sub(" ", str(text))


def _break_autolinks(text: str) -> str:
    """GFM links bare URLs, www. names and e-mail addresses in the parsed text (after escapes and character
    references are resolved), so neither stops them: a word joiner splits "://", "www." and "@"."""
    text = _SCHEME_SLASHES.sub(":" + _JOIN, text)
    text = _WWW.sub(r"\1" + _JOIN + ".", text)
    return text.replace("@", "@" + _JOIN)


def md_literal(text: object) -> str:
    """`text` escaped for Streamlit markdown (st.markdown, captions, alerts, help, option labels): shown as typed."""
    text = _ALWAYS.sub(r"\\\1", _break_autolinks(_one_line(text)))
    text = _UNDERSCORE_AT_EDGE.sub(r"\\_", text)
    text = _DIRECTIVE_COLON.sub(r"\\:", text)
    return _BLOCK_START.sub(lambda m: m.group(1) + ("\\" + m.group(2) if not m.group(2).isdigit() else m.group(2) + "\\"),
                            text, count=1)


def md_code(text: object) -> str:
    """`text` as an inline code span whose fence is longer than any run of backticks inside it."""
    text = _one_line(text)
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    # A space pads a span that starts or ends with a backtick; CommonMark strips one from each side.
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def html_literal(text: object) -> str:
    """`text` escaped for an HTML context (markdown with unsafe_allow_html): no tag, entity or attribute break-out."""
    return _HTML_OR_MD.sub(lambda m: _HTML_SPECIAL.get(m.group(0), f"&#{ord(m.group(0))};"),
                           _break_autolinks(_one_line(text)))
