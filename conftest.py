"""Root pytest configuration: the code examples of README.md and docs/ run as tests (Sybil).

Every ```python block of a page runs, in order, in one namespace per page; an HTML comment
``<!-- invisible-code-block: python … -->`` adds checks the reader does not see, and
``<!-- skip: next "reason" -->`` skips the next block (for one that needs a long run or an
outside tool). docs/testing.md#documentation-site.
"""

from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser(), SkipParser()],
    patterns=["README.md", "docs/*.md", "docs/*/*.md"],
    path=".",
).pytest()
