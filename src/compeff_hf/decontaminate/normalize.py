"""Text normalisation for decontamination: the same words whatever the case, punctuation, spacing or line breaks.

A text becomes a list of words: Unicode NFKC, case-folded, HTML tags (IMDb keeps ``<br />``) and Penn Treebank
bracket tokens (SST-2's ``-lrb-``) removed, clitics split off by tokenisers re-joined (SST-2's ``is n't`` ->
``isn't``), apostrophes deleted (``isn't`` -> ``isnt``), then every run of letters and digits is a word; all other
characters (punctuation, emoji, underscores, whitespace, newlines) only separate words.
"""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc`\u00b4]")
_HTML_TAG = re.compile(r"</?[a-z][a-z0-9]*(?:\s[^<>]{0,60})?/?>")
_PTB_BRACKET = re.compile(r"-[lr][rsc]b-")
# A clitic a tokeniser split off ("do n't", "it 's") joins the word before it, as in the untokenised text.
_SPLIT_CLITIC = re.compile(r"\s+(?=(?:n't|'s|'re|'ll|'ve|'m|'d)(?![^\W_]))")
_WORD = re.compile(r"[^\W_]+")
_ASCII_WORD = re.compile(r"[a-z0-9]+")  # the same on case-folded ASCII text, twice as fast


def words(text: str) -> list[str]:
    """The normalised words of ``text`` (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    # Each pass runs only when its characters occur (most texts need none): normalisation is most of the scan time.
    if not text.isascii() or "`" in text:
        text = _APOSTROPHES.sub("'", text)
    if "<" in text:
        text = _HTML_TAG.sub(" ", text)
    if "b-" in text:
        text = _PTB_BRACKET.sub(" ", text)
    if "'" in text:
        text = _SPLIT_CLITIC.sub("", text).replace("'", "")
    return (_ASCII_WORD if text.isascii() else _WORD).findall(text)
