"""training.records.markdown_table: every report table goes through it, so it is checked
against the markdown parser the documentation site uses (Python-Markdown's tables extension),
not against its own output."""

import re

import markdown
import pytest

from training.records import markdown_table


def _parse(text: str) -> tuple[list[str], list[list[str]]]:
    """Header cells and body rows as Python-Markdown renders the table."""
    html = markdown.markdown(text, extensions=["tables"])
    assert html.count("<table>") == 1, html
    head = re.findall(r"<th>(.*?)</th>", html, flags=re.S)
    body = re.findall(r"<tr>(.*?)</tr>", html.split("<tbody>")[1], flags=re.S)
    return [h.strip() for h in head], [[c.strip() for c in re.findall(r"<td>(.*?)</td>", r, flags=re.S)]
                                       for r in body]


def test_cells_render_in_their_columns():
    rows = [["mnist", 0.04, "94.64 / 96.0", ""], ["fashion-mnist", 0.06, "", "x"]]
    head, body = _parse(markdown_table(["dataset", "bs", "DAT w/ IS (ours / pub.)", "note"], rows))
    assert head == ["dataset", "bs", "DAT w/ IS (ours / pub.)", "note"]
    assert body == [["mnist", "0.04", "94.64 / 96.0", ""], ["fashion-mnist", "0.06", "", "x"]]


def test_escaped_pipes_stay_inside_a_cell():
    head, body = _parse(markdown_table(["quantity", r"Pearson r of \|E\|²"], [["r", "0.99"]]))
    assert head == ["quantity", "Pearson r of |E|²"]
    assert body == [["r", "0.99"]]


def test_a_table_without_rows_is_a_header_and_its_rule():
    assert markdown_table(["a", "b"], []) == "| a | b |\n|---|---|"


@pytest.mark.parametrize("row", [["only one"], ["one", "two", "three"]])
def test_a_row_of_the_wrong_width_is_an_error(row):
    with pytest.raises(ValueError, match=r"row 1 has \d cells, the header 2"):
        markdown_table(["a", "b"], [["x", "y"], row])
