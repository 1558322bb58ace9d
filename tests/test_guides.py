"""Every page that tells a reader to run something, run as written (tests/guides.py says how).

One pytest item per block, in page order; each page in a fresh temporary
folder (a copy of the checkout, or an empty folder for the installed kit),
against the installed kit's ``sink`` and ``sink-check``. A page that stops
working fails here. Select one page with ``-k first-sync``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from guides import ROOT, GuideRun, Step, matches, parse
from sybil import Example
from sybil.example import SybilFailure

# The pages whose commands a reader is told to run, in the order a newcomer meets them.
PAGES = [
    "README.md",
    "docs/guides/first-sync.md",
    "docs/operations.md",
    "docs/store.md",
    "docs/index.md",
    "docs/schemas/changing.md",
    "docs/vectors/index.md",
    "docs/conformance/quickstart.md",
    "docs/conformance/codec-mode.md",
    "docs/performance.md",
    "docs/tools/gates.md",
]

DOCUMENTS = {page: parse(ROOT / page) for page in PAGES}
EXAMPLES: list[tuple[str, Example]] = [(page, example) for page, doc in DOCUMENTS.items() for example in doc.examples()]


def _id(page: str, example: Example) -> str:
    step: Step = example.parsed
    return f"{page.removeprefix('docs/')}:{example.line}:{step.kind}"


class Runs:
    """The page being run; the previous page's processes and folder go when the next page starts."""

    def __init__(self) -> None:
        self.page: str | None = None
        self.current: GuideRun | None = None

    def for_page(self, page: str) -> GuideRun:
        if page != self.page:
            self.close()
            document = DOCUMENTS[page]
            self.page, self.current = page, GuideRun(ROOT / page, document.namespace.get("folder", ""))
            document.namespace["run"] = self.current
        assert self.current is not None
        return self.current

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
        self.page = self.current = None


@pytest.fixture(scope="module")
def runs() -> Iterator[Runs]:
    runs = Runs()
    yield runs
    runs.close()


@pytest.mark.parametrize(("page", "example"), EXAMPLES, ids=[_id(p, e) for p, e in EXAMPLES])
def test_guide_block(page: str, example: Example, runs: Runs) -> None:
    run = runs.for_page(page)
    step: Step = example.parsed
    if step.kind == "skip":
        pytest.skip(f"{page}:{example.line}: marked on the page: {step.options.get('reason')}")
    if run.failed_at is not None:
        pytest.skip(f"not run: the block at {page}:{run.failed_at} failed")
    failure = None
    try:
        example.evaluate()
    except SybilFailure as exc:
        failure = str(exc)
    except pytest.skip.Exception:
        raise
    except BaseException:
        run.failed_at = example.line
        raise
    if failure is not None:
        run.failed_at = example.line
        pytest.fail(failure, pytrace=False)


def test_every_page_says_where_it_runs_and_why_a_block_is_skipped() -> None:
    for page, document in DOCUMENTS.items():
        assert document.namespace.get("folder") in {"checkout", "empty"}, (
            f"{page}: add <!-- guide: folder=checkout|empty -->"
        )
        for example in document.examples():
            if example.parsed.kind == "skip":
                assert example.parsed.options.get("reason"), (
                    f'{page}:{example.line}: a skipped block needs reason="..."'
                )


def test_every_shell_block_of_a_page_is_run_or_skipped_with_a_reason() -> None:
    """A new ```sh block on a tested page cannot slip through unmarked: it is run unless the page says why not."""
    for page, document in DOCUMENTS.items():
        shell_blocks = len(re.findall(r"^[ \t]*```(?:sh|console)[ \t]*$", document.text, re.MULTILINE))
        steps = [
            e.parsed
            for e in document.examples()
            if e.parsed.kind in {"sh", "console"} or e.parsed.options.get("language") in {"sh", "console"}
        ]
        assert shell_blocks == len(steps), page


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        ("a\nb\n", "a\nb\n", True),
        ("a\n...\nd\n", "a\nb\nc\nd\n", True),
        ("a\n...\nd\n", "a\nd\n", True),
        ("a ... c\n", "a b b c\n", True),
        ("a\nb\n", "a\nb\nc\n", False),  # no hidden extra output
        ("a   b\n", "a b\n", True),  # runs of spaces are one
        ("x\n", "y\n", False),
    ],
)
def test_output_matching_rule(expected: str, actual: str, ok: bool) -> None:
    assert matches(expected, actual) is ok
    assert matches("id 0x1234abcd\n", "id 0xdeadbeef\n", ignore=r"0x[0-9a-f]{8}")


def _run_page(tmp_path, text: str) -> list[str]:
    """Run a made-up page through the harness; the failure messages, one per failed block."""
    page = tmp_path / "page.md"
    page.write_text(text)
    document = parse(page)
    run = GuideRun(page, document.namespace["folder"])
    document.namespace["run"] = run
    failures = []
    try:
        for example in document.examples():
            try:
                example.evaluate()
            except SybilFailure as exc:
                failures.append(exc.result)
    finally:
        run.close()
    return failures


def test_the_harness_fails_a_page_whose_output_or_exit_code_differs(tmp_path) -> None:
    failures = _run_page(
        tmp_path,
        "<!-- guide: folder=empty -->\n\n```sh\necho hello\n```\n\n```text\nbye\n```\n\n"
        "```sh\nexit 3\n```\n\n<!-- guide: exit=3 -->\n```sh\nexit 3\n```\n\n"
        "```console\n$ echo one; echo two >&2\none\ntwo\n```\n",
    )
    assert len(failures) == 2, failures
    assert "--- the page shows:\nbye\n--- the command printed:\nhello" in failures[0]
    assert failures[1].startswith("exit code 3, expected 0")


def test_the_harness_runs_background_blocks_and_keeps_the_folder(tmp_path) -> None:
    failures = _run_page(
        tmp_path,
        "<!-- guide: folder=empty -->\n\n```sh\nmkdir d && cd d\n```\n\n"
        '<!-- guide: background ready="up on 7443" -->\n```sh\necho up on 7443; pwd; sleep 60\n```\n\n'
        "<!-- guide: output background -->\n```text\nup on 7443\n.../d\n```\n\n"
        '<!-- guide: stop -->\n\n```sh\ntest "$(basename "$PWD")" = d\n```\n',
    )
    assert failures == []
