"""Result tables that fit a terminal without breaking a file name inside a word.

rich folds a cell that does not fit its column in the middle of a word when the word (a file
name, a path) is longer than the column: "living_room_w / indow_after / noon.png". Here the
columns are sized first: every column gets the width it cannot do without (its longest word:
numbers then wrap at their spaces, "32.90" over "(23.61)"), the space left goes to the name
columns up to their full width, then to the others; a name that still does not fit goes on
further lines, broken only after a separator (`/`, `_`, `-`, `.`, a space), so each line holds
whole parts of it and nothing is hidden ("photos/" / "beach_0001.jpg"). An ellipsis would hide the
part that tells "IMG_0001.jpg" from "IMG_0002.jpg".

    widths = fit_widths(natural=[30, 13, 13], minimal=[9, 7, 7], available=40, groups=[[0], [1, 2]])
    break_at_separators("/photos/2024/beach_0001.jpg", 14)  # -> "/photos/2024/\nbeach_0001.jpg"
"""

from __future__ import annotations

import re
from typing import Sequence

# A name's parts: a run of other characters and the separator that ends it.
_PART = re.compile(r"[^/\\_. -]*[/\\_. -]|[^/\\_. -]+")
WORD_LIMIT = 20  # a name's column is never made narrower than its longest part, up to this


def name_parts(text: str) -> list[str]:
    """`text` cut after each separator: "a_b.png" -> ["a_", "b.", "png"]."""
    return _PART.findall(text)


def longest_part(text: str) -> int:
    """The narrowest column that holds `text` broken only after separators."""
    return max(map(len, name_parts(text)), default=0)


def longest_word(text: str) -> int:
    """The narrowest column rich can wrap `text` into (at spaces) without breaking a word."""
    return max((len(word) for word in text.split()), default=0)


def break_at_separators(text: str, width: int) -> str:
    """`text` on lines of at most `width` characters, broken only after a separator; a part longer
    than `width` (no separator in it) is the one thing still cut."""
    lines: list[str] = []
    line = ""
    for part in name_parts(text):
        if line and len(line) + len(part) > width:
            lines.append(line.rstrip(" "))
            line = ""
        while len(part) > width > 0:
            lines.append(part[:width])
            part = part[width:]
        line += part
    lines.append(line)
    return "\n".join(lines)


def fit_widths(
    natural: Sequence[int], minimal: Sequence[int], available: int, groups: Sequence[Sequence[int]]
) -> list[int]:
    """Content widths of the columns for `available` characters (borders and padding already
    taken off): each column its full (`natural`) width when all fit; otherwise each its
    `minimal` width, then the space left shared evenly among the columns of `groups[0]` up to
    their natural widths, then among those of `groups[1]`, and so on. When even the minimal
    widths do not fit, the minimal widths (the table is then wider than `available`)."""
    if sum(natural) <= available:
        return list(natural)
    widths = [min(low, high) for low, high in zip(minimal, natural)]
    left = available - sum(widths)
    for group in groups:
        growing = [i for i in group if widths[i] < natural[i]]
        while left > 0 and growing:
            for i in list(growing):
                if left == 0:
                    break
                widths[i] += 1
                left -= 1
                if widths[i] >= natural[i]:
                    growing.remove(i)
    return widths


def table_space(width: int, columns: int) -> int:
    """Characters left for the cells of a rich table with `columns` columns, edges and one
    space of padding on each side of a cell, in `width` characters."""
    return width - (columns + 1) - 2 * columns
