"""User-given text shown as plain text: variant names, file names, model names and link values.

Streamlit renders Markdown in ``st.markdown``, captions, alerts, widget labels, expander and tab labels and
image captions, with extras (``:red[…]`` colors, ``:material/…:`` icons, ``$…$`` formulas, bare links); plotly
renders pseudo-HTML (``<a href>``, ``<b>``) in titles, ticks, legends and hover text and fills ``%{…}`` in hover
templates. A name from a shared link must not put a link, a formula or colored text into someone else's view:
``md`` and ``plot`` turn any text into its literal rendering for the two. Pure functions, no streamlit.
"""

from __future__ import annotations

import html
import re

ZWSP = "\u200b"
#: Characters that start Markdown syntax anywhere in a line.
_INLINE = re.compile(r"([\\`*_\[\]<>$~|&])")
#: Line starts that make a heading, a list, a quote or a rule.
_LINE_START = re.compile(r"^(\s*)(\d*)([#\-+>=.)])", re.M)


def md(text: object) -> str:
    """``text`` escaped so that any Streamlit Markdown shows it literally. Backslash escapes stop emphasis, code,
    links, HTML, formulas and tables; an invisible zero-width space after a colon that precedes a letter or a
    slash stops ``:color[…]`` directives, ``:material/…:`` icons, ``:emoji:`` codes and ``http://`` autolinks, and
    one inside ``www.`` and before ``@`` stops bare-domain and e-mail autolinks."""
    s = _INLINE.sub(r"\\\1", str(text))
    s = _LINE_START.sub(lambda m: m.group(1) + m.group(2) + "\\" + m.group(3), s)
    s = re.sub(r":(?=[A-Za-z/])", ":" + ZWSP, s)
    s = re.sub(r"(?i)www\.", lambda m: m.group(0)[0] + ZWSP + m.group(0)[1:], s)
    return s.replace("@", ZWSP + "@")


def plot(text: object) -> str:
    """``text`` escaped for plotly labels and hover templates: HTML characters as entities (no tag can form) and
    ``%`` as an entity (no ``%{…}`` template can form)."""
    return html.escape(str(text), quote=False).replace("%", "&#37;")
