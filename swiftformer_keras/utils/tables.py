"""Markdown tables for people: the one renderer every report, card and benchmark prints with.

    markdown_table(["variant", "ms"], [["XS", "2.57"], ["S", "3.41"]], align="lr")

Cells are written as given (`str`), with `|` escaped so that a cell cannot split a row;
numbers are formatted by the caller, who knows their precision.
"""

import datetime

ALIGNMENTS = {"l": "---", "r": "---:", "c": ":---:"}


def _cell(value):
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(header, rows, align=None):
    """A Markdown table as text (lines joined by newlines, no trailing newline).

    Args:
        header: the column titles.
        rows: sequences of cells, as many as `header` has titles.
        align: one letter per column, `l` (left, the default), `r` (right, for
            numbers) or `c` (centre); None aligns every column left.

    Raises:
        ValueError: a row or `align` of another length than `header`, or an
            unknown alignment letter.
    """
    align = align or "l" * len(header)
    if len(align) != len(header) or set(align) - set(ALIGNMENTS):
        raise ValueError(f"align must be one of {sorted(ALIGNMENTS)} per column ({len(header)}), got {align!r}.")
    lines = [
        "| " + " | ".join(_cell(title) for title in header) + " |",
        "|" + "|".join(ALIGNMENTS[letter] for letter in align) + "|",
    ]
    for row in rows:
        row = list(row)
        if len(row) != len(header):
            raise ValueError(f"A row has {len(row)} cells for {len(header)} columns: {row!r}.")
        lines.append("| " + " | ".join(_cell(value) for value in row) + " |")
    return "\n".join(lines)


def results_page(title, command, machine, sections, chart=None, date=None, notes=()):
    """The Markdown page a benchmark writes beside its JSON: what was measured, when, where and by
    which command, its tables and its chart (a file name in the page's folder).

    The documentation takes these pages as they are written (`docs/benchmarks/<run>/`), so running
    the command again refreshes its page, and no number on it is typed by hand.

    Args:
        title: the page's title.
        command: the command line that measured it, as run.
        machine: where it ran (this host's CPU; the emulated cores).
        sections: Markdown blocks (tables, with their own headings or captions), in order; a
            `(name, block)` pair is marked as a named part (`--8<-- [start:name]`, in HTML comments
            that the page does not show), which another page includes with
            `--8<-- "benchmarks/<run>/<page>.md:name"`: a figure quoted elsewhere is the page's own.
        chart: the chart's file name beside the page, shown after the command; None: no chart.
        date: the day measured, ISO (default: today).
        notes: sentences printed under the command (what the numbers are and are not).
    """
    date = date or datetime.date.today().isoformat()
    parts = [f"# {title}", f"Measured on {date}, {machine}, with:", f"```bash\n{command}\n```"]
    parts += [" ".join(notes)] if notes else []
    parts += [f"![{title}]({chart})"] if chart else []
    return "\n\n".join([*parts, *map(_section, sections)]) + "\n"


def _section(section):
    """A block of a results page, between snippet markers where it is named."""
    if isinstance(section, str):
        return section
    name, block = section
    return f"<!-- --8<-- [start:{name}] -->\n{block}\n<!-- --8<-- [end:{name}] -->"
