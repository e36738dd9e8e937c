"""The one Markdown table renderer."""

import pytest

from swiftformer_keras.utils.tables import markdown_table, results_page


def test_a_table_has_its_header_alignment_and_rows():
    assert markdown_table(["variant", "ms"], [["XS", "2.57"], ["S", 3.41]], align="lr") == (
        "| variant | ms |\n|---|---:|\n| XS | 2.57 |\n| S | 3.41 |"
    )


def test_a_pipe_or_newline_in_a_cell_cannot_split_the_row():
    assert markdown_table(["op"], [["a|b\nc"]]).splitlines()[-1] == "| a\\|b c |"


@pytest.mark.parametrize(
    "rows, align, message",
    [
        ([["XS"]], None, "A row has 1 cells for 2 columns"),
        ([["XS", 1]], "lx", "align must be one of"),
        ([["XS", 1]], "l", "align must be one of"),
    ],
)
def test_a_ragged_row_or_a_bad_alignment_is_refused(rows, align, message):
    with pytest.raises(ValueError, match=message):
        markdown_table(["variant", "ms"], rows, align=align)


def test_a_results_page_says_when_where_and_how_before_its_tables():
    table = markdown_table(["mode", "ms"], [["int8", "0.5"]], align="lr")
    page = results_page(
        "Latency",
        "python conversion/benchmark.py --variants XS",
        "AMD EPYC x2",
        [table],
        chart="b.png",
        date="2026-12-07",
    )
    assert page == (
        "# Latency\n\nMeasured on 2026-12-07, AMD EPYC x2, with:\n\n"
        "```bash\npython conversion/benchmark.py --variants XS\n```\n\n![Latency](b.png)\n\n"
        "| mode | ms |\n|---|---:|\n| int8 | 0.5 |\n"
    )
    assert "Counts, not times." in results_page("T", "c", "m", [], notes=("Counts,", "not times."))


def test_a_named_section_is_what_another_page_includes_and_only_it(tmp_path):
    """Read by pymdownx.snippets itself, as the documentation site includes a benchmark's table."""
    import markdown

    latency = markdown_table(["mode", "ms"], [["int8", "0.5"]])
    sizes = markdown_table(["mode", "MB"], [["int8", "3.8"]])
    page = results_page("T", "c", "m", [("latency", latency), sizes], date="2026-12-07")
    (tmp_path / "page.md").write_text(page)
    config = {"pymdownx.snippets": {"base_path": [str(tmp_path)], "check_paths": True}}
    included = markdown.markdown('--8<-- "page.md:latency"', extensions=["tables", "pymdownx.snippets"],
                                 extension_configs=config)  # fmt: skip
    assert "<td>0.5</td>" in included and "3.8" not in included and "--8<--" not in included
    alone = markdown.markdown(page, extensions=["tables"])  # on its own page the markers stay hidden
    assert "<td>0.5</td>" in alone and "<td>3.8</td>" in alone and "<!-- --8<-- [start:latency] -->" in alone
