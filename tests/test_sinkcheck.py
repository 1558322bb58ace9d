"""sink-check, the conformance runner: catalogue, selection, exit codes, expected failures, reports, client mode.

Everything runs for real: reference servers and clients (and their mutants)
as subprocesses on loopback, over mutual TLS; `sink-check` as a subprocess
where the command line is what is tested.
"""

from __future__ import annotations

import asyncio
import html
import html.parser
import json
import os
import re
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest
from sinkcheck.cases import catalogue
from sinkcheck.model import CaseResult, Outcome
from sinkcheck.profile import load_profile
from sinkcheck.runner import load_expected_failures, run_cases, select, summarize
from sinkcheck.selftest import make_pki, reference_profile, reference_server
from sinkcheck.selftest.mutants import MUTANTS
from sinktest import ROOT

SINK_CHECK = [sys.executable, "-m", "sinkcheck.cli"]
SCHEMA = json.loads((ROOT / "conformance" / "sinkcheck" / "report.schema.json").read_text())
CASE_ID = re.compile(r"^(server|client)\.[a-z0-9-]+(\.[a-z0-9-]+)+$")
FAILS_ON_NO_PONG = "server.ping.pong"  # fails against the no-pong mutant
PASSES_ON_NO_PONG = "server.publish.ack"  # unaffected by it
ENV = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}  # wide: listings and failures stay on one line


def sink_check(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SINK_CHECK, *args], capture_output=True, text=True, timeout=timeout, env=ENV)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def profile_file(pki: Path) -> Path:
    """The self-test's reference profile as a TOML file, as an implementer would write it."""
    profile = reference_profile(pki)
    identities = "\n".join(
        f'[identities.{name}]\ncert = "{i.cert}"\nkey = "{i.key}"\n' for name, i in profile.identities.items()
    )
    path = pki / "reference.toml"
    path.write_text(
        f'name = "reference-test"\nca = "{profile.ca}"\nkeepalive = {profile.keepalive}\n'
        f'rejected_app_version = "{profile.rejected_app_version.decode()}"\n'  # type: ignore[union-attr]
        f"events_on_connect = {profile.events_on_connect}\n"
        f"features = {json.dumps(sorted(profile.features))}\n{identities}"
    )
    return path


@pytest.fixture(scope="module")
def no_pong_server(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    with reference_server(pki, tmp_path_factory.mktemp("no-pong"), mutant="no-pong") as address:
        yield address


@pytest.fixture(scope="module")
def good_server(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    with reference_server(pki, tmp_path_factory.mktemp("reference")) as address:
        yield address


# -- the catalogue ---------------------------------------------------------------------------------


def test_case_ids_are_unique_and_semantic() -> None:
    ids = [c.id for c in catalogue()]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if not CASE_ID.match(i)] == []
    assert all(c.id.startswith(c.mode + ".") for c in catalogue())
    assert {c.mode for c in catalogue()} == {"server", "client"}


def test_every_cited_requirement_exists_in_the_registry() -> None:
    registry = {
        r["id"]
        for version in ("v0", "v1")
        for r in tomllib.loads((ROOT / f"spec/{version}/requirements.toml").read_text())["requirement"]
    }
    cited = {(c.id, r) for c in catalogue() for r in c.requirements}
    assert sorted((case_id, r) for case_id, r in cited if r not in registry) == []
    assert all(c.requirements and c.reactions and c.title for c in catalogue())


def test_every_case_is_the_target_of_a_mutant() -> None:
    """Statically, what the self-test checks dynamically: no case is without a mutant that must break it."""
    import fnmatch

    globs = [t for m in MUTANTS for t in m.targets]
    assert [c.id for c in catalogue() if not any(fnmatch.fnmatchcase(c.id, g) for g in globs)] == []


def test_every_mutant_runs_through_the_hidden_subcommands_and_changes_only_real_serve_options() -> None:
    """The self-test starts each mutant as `sink-check _mutant-server/_mutant-client --mutant NAME`; the
    `sink serve` options a server mutant changes (Mutant.serve) must be ones `sink serve` has, or the change
    would go nowhere and the mutant would be the reference."""
    from sinkcheck.cli import build_hidden_parser, build_parser
    from sinkproto.connection import Role

    hidden = build_hidden_parser()
    servers = [m for m in MUTANTS if m.role is Role.SERVER]
    for mutant in servers:
        args = hidden.parse_args(["_mutant-server", "--mutant", mutant.name])
        assert set(mutant.serve) <= set(vars(args)), (mutant.name, set(mutant.serve) - set(vars(args)))
    # quarantine, app version, publish-on-connect, poison, v0, readers, max-sessions (serial), context bases
    assert sum(bool(m.serve) for m in servers) == 8
    for client_mutant in (m for m in MUTANTS if m.role is Role.CLIENT):
        args = hidden.parse_args(["_mutant-client", "--mutant", client_mutant.name, "--server", "127.0.0.1:7443"])
        assert args.mutant == client_mutant.name
    assert "_mutant" not in build_parser().format_help()  # hidden: not among the commands a person sees


def test_the_mutants_are_one_registry_keyed_by_role_and_name() -> None:
    """Server and client mutants are one list; a label (role/name) names one mutant, each speaks versions the kit
    has, and what a peer runs (rules, handler, versions) comes from its entry."""
    from sinkcheck.selftest import handlers
    from sinkcheck.selftest.mutants import Mutant, PeerSetup, find_mutant
    from sinkproto.connection import Input, Role, State
    from sinkproto.connection.handlers import ignore
    from sinkproto.versions import SUPPORTED_VERSIONS

    labels = [m.label for m in MUTANTS]
    assert len(labels) == len(set(labels))
    assert all(m.versions and set(m.versions) <= set(SUPPORTED_VERSIONS) for m in MUTANTS)
    # the two roles share names: the role picks the one
    server, client = find_mutant(Role.SERVER, "no-redelivery"), find_mutant(Role.CLIENT, "no-redelivery")
    assert (server.handler, client.handler) == (handlers.NoRedeliveryServer, handlers.NoRedeliveryClient)
    setup = PeerSetup(certs=Path("certs"))
    no_pong = find_mutant(Role.CLIENT, "no-pong").peer_options(setup)
    assert set(no_pong) == {"rules", "versions"} and no_pong["versions"] == (0,)
    assert no_pong["rules"].handler(Role.CLIENT, State.OPEN, Input.RECV_PING) is ignore  # edits.no_pong
    assert find_mutant(Role.SERVER, "refuses-version-0").peer_options(setup) == {"versions": (1,)}
    assert find_mutant(Role.SERVER, "plaintext").peer_options(setup) == {
        "versions": (0, 1),
        "ssl_context": None,
        "plaintext": True,
        "handler_class": handlers.AnonymousAllowed,
    }
    with pytest.raises(ValueError, match="sink serve"):
        Mutant(name="x", role=Role.CLIENT, versions=(0,), breaks="", targets=(), serve={"max_sessions": 1})


def test_case_context_speaks_each_version_through_one_set_of_methods() -> None:
    """CaseContext takes version= like the codecs: a version-1 request carries the reader declaration in the
    version-1 layout, and the peer's own events include BATCH_PUBLISH from version 1 on (BPUB-2)."""
    from sinkcheck.context import CaseContext, RunState, own_events
    from sinkproto import ConnectionRequest, construct_codec
    from sinkproto.readers import ReaderSchemas

    profile = load_profile(ROOT / "conformance/profiles/reference.toml")
    ctx = CaseContext(host="127.0.0.1", port=1, profile=profile, state=RunState(), case_id="x")
    reads = ReaderSchemas.from_mapping({7: [1, 2]})
    request = ctx.request(server_instance_id=5, reader_schemas=reads, version=1)
    assert request == construct_codec.encode_frame(
        ConnectionRequest(
            version=1,
            app_version=profile.app_version,
            client_instance_id=profile.client_instance_id,
            server_instance_id=5,
            reader_schemas=reads,
        ),
        version=1,
    )
    assert ctx.decode(request, 1) == construct_codec.decode_frame(request, version=1)
    assert ctx.request(server_instance_id=5)[:1] == b"\x00" != request[:1]  # version 0: the version-0 layout
    assert own_events(0) == (4,) and own_events(1) == (4, 2)


def test_committed_profiles_and_expected_failures_are_valid() -> None:
    profile = load_profile(ROOT / "conformance/profiles/reference.toml")
    assert profile.identity("server") is not None and profile.client.exec and "{port}" in profile.client.exec
    ids = {c.id for c in catalogue()}
    for listing in (ROOT / "conformance/profiles").glob("*.expected-failures"):
        lines = [line for line in listing.read_text().splitlines() if line.split("#", 1)[0].strip()]
        assert all("#" in line for line in lines), f"{listing.name}: every entry says why"
        assert load_expected_failures(listing) <= ids, listing.name


def test_docs_case_page_is_generated_from_the_catalogue() -> None:
    sys.path.insert(0, str(ROOT / "docs" / "hooks"))
    try:
        import conformance_cases
    finally:
        sys.path.pop(0)
    page = conformance_cases.render(catalogue(), conformance_cases._sections())
    for case in catalogue():
        row = next(line for line in page.splitlines() if f'id="{case.id}"' in line)
        for requirement in case.requirements:
            assert re.search(rf"\[{requirement}\]\(\.\./spec/v[01]/\w+\.md#{requirement}\)", row), (
                case.id,
                requirement,
            )


# -- command line: list, selection, exit codes --------------------------------------------------------


def test_list_prints_every_case_and_connects_to_nothing(pki: Path) -> None:
    with socket.socket() as listener:  # a server that would notice a connection
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        port = listener.getsockname()[1]
        server = sink_check("server", f"127.0.0.1:{port}", "--list")
        client = sink_check("client", "--listen", f"127.0.0.1:{port}", "--list", "--exec", "false")
        with pytest.raises(TimeoutError):
            listener.accept()
    assert server.returncode == 0 and client.returncode == 0, server.stderr + client.stderr
    for case in catalogue():
        listing = server.stdout if case.mode == "server" else client.stdout
        assert re.search(rf"^{re.escape(case.id)}\s", listing, re.M), case.id


def test_cases_and_exclude_select_by_glob() -> None:
    listed = sink_check(
        "server",
        "127.0.0.1:1",
        "--list",
        "--cases",
        "server.tls.*",
        "--cases",
        "server.ping.pong",
        "--exclude",
        "*tls1[12]*",
    ).stdout
    ids = [line.split()[0] for line in listed.splitlines() if CASE_ID.match(line.split()[0] if line.split() else "")]
    assert sorted(ids) == [
        "server.ping.pong",
        "server.tls.no-client-certificate",
        "server.tls.other-ca",
        "server.tls.plaintext",
        "server.tls.tls13",
    ]
    assert [c.id for c in select(catalogue(), include=["client.keepalive.*"], slow=False)] == []
    assert {c.id for c in select(catalogue(), include=["*.keepalive.*"], exclude=["server.*"])} == {
        "client.keepalive.pings-when-idle",
        "client.keepalive.silence-closes",
    }


def test_exit_codes(
    profile_file: Path, pki: Path, no_pong_server: tuple[str, int], good_server: tuple[str, int], tmp_path: Path
) -> None:
    def run(address: tuple[str, int], *extra: str) -> int:
        return sink_check("server", f"{address[0]}:{address[1]}", "--profile", str(profile_file), *extra).returncode

    assert run(good_server, "--cases", FAILS_ON_NO_PONG) == 0
    assert run(no_pong_server, "--cases", FAILS_ON_NO_PONG) == 1  # a MUST failed
    assert run(no_pong_server, "--cases", "server.keepalive.never-pings", "--no-slow") == 0  # nothing selected
    # the runner cannot even build its TLS context: an error, never a pass
    assert run(good_server, "--cases", FAILS_ON_NO_PONG, "--ca", str(tmp_path / "missing.pem")) == 2


# -- expected failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listed", "exit_code", "field"),
    [
        ([], 1, "unexpected_failures"),  # a failing case nobody listed fails the run
        ([FAILS_ON_NO_PONG], 0, None),  # listed: known, tolerated
        ([FAILS_ON_NO_PONG, PASSES_ON_NO_PONG], 1, "unexpected_passes"),  # listed but passes: the list is stale
        ([FAILS_ON_NO_PONG, "server.no-such.case"], 1, "unknown_expected"),  # a typo cannot hide anything
    ],
)
def test_expected_failures(
    pki: Path, no_pong_server: tuple[str, int], tmp_path: Path, listed: list[str], exit_code: int, field: str | None
) -> None:
    listing = tmp_path / "expected-failures"
    listing.write_text("# known problems\n" + "".join(f"{i}  # why\n" for i in listed))
    expected = load_expected_failures(listing)
    assert expected == set(listed)
    cases = [c for c in catalogue() if c.id in (FAILS_ON_NO_PONG, PASSES_ON_NO_PONG)]
    host, port = no_pong_server
    results = asyncio.run(
        run_cases(cases, host=host, port=port, profile=reference_profile(pki), expected_failures=expected)
    )
    assert {r.case.id: r.outcome for r in results} == {FAILS_ON_NO_PONG: Outcome.FAIL, PASSES_ON_NO_PONG: Outcome.PASS}
    summary = summarize(results, expected, {c.id for c in catalogue()})
    assert summary.exit_code == exit_code
    if field is not None:
        assert (
            getattr(summary, field)
            == {
                "unexpected_failures": [FAILS_ON_NO_PONG],
                "unexpected_passes": [PASSES_ON_NO_PONG],
                "unknown_expected": ["server.no-such.case"],
            }[field]
        )


def test_expected_failures_file_on_the_command_line(
    profile_file: Path, no_pong_server: tuple[str, int], tmp_path: Path
) -> None:
    listing = tmp_path / "expected"
    listing.write_text(f"{FAILS_ON_NO_PONG}  # this mutant never answers PING\n")
    junit = tmp_path / "junit.xml"
    done = sink_check(
        "server",
        "{}:{}".format(*no_pong_server),
        "--profile",
        str(profile_file),
        "--cases",
        FAILS_ON_NO_PONG,
        "--expected-failures",
        str(listing),
        "--junit",
        str(junit),
    )
    assert done.returncode == 0, done.stdout
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "0" and suite.find("testcase/failure") is None  # known: not a CI failure


def test_a_missing_expected_failures_file_says_the_path_rule(profile_file: Path, tmp_path: Path) -> None:
    """Relative to the current directory (it raised FileNotFoundError with a traceback)."""
    for mode in (("server", "127.0.0.1:9", "--profile", str(profile_file)), ("client", "--listen", "127.0.0.1:0")):
        done = subprocess.run(
            [*SINK_CHECK, *mode, "--expected-failures", "nowhere/elixir.expected-failures"],
            capture_output=True,
            text=True,
            timeout=60,
            env=ENV,
            cwd=tmp_path,
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        assert (
            f"no expected-failures file nowhere/elixir.expected-failures (a path on the command line is relative "
            f"to the current directory, {tmp_path}; the paths inside a profile are relative to the profile)"
            in " ".join(done.stdout.split())
        ), done.stdout


def test_profile_client_section_is_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[client]\nevents_to_publis = 3\n")
    with pytest.raises(ValueError, match="events_to_publis"):
        load_profile(bad)
    bad.write_text('features = ["client_publish"]\n[client]\nevents_to_publish = 0\n')
    with pytest.raises(ValueError, match="events_to_publish"):
        load_profile(bad)
    good = tmp_path / "good.toml"
    good.write_text('keepalive = 30\n[client]\nexec = "my-client --port {port}"\nreconnect_wait = 70\n')
    profile = load_profile(good)
    assert (profile.client.exec, profile.client.reconnect_wait, profile.client_keepalive) == (
        "my-client --port {port}",
        70,
        30.0,
    )


def test_profile_versions_decide_the_version_1_cases(tmp_path: Path) -> None:
    path = tmp_path / "v1.toml"
    path.write_text(
        "versions = [1, 0]\nunreadable_schema = [4242, 3]\nmax_batch_events = 1000\n[client]\nversions = [0, 1]\n"
    )
    profile = load_profile(path)
    assert (profile.versions, profile.client.versions) == ((0, 1), (0, 1))
    assert (profile.unreadable_schema, profile.max_batch_events) == ((4242, 3), 1000)
    assert profile.has("server_v1") and profile.has("client_v1")
    plain = load_profile(None)
    assert plain.versions == (0,) and not plain.has("server_v1") and not plain.has("client_v1")
    for bad in (
        "versions = [2]",
        "versions = []",
        "versions = 1",
        "unreadable_schema = [1]",
        "[client]\nversions = [3]",
    ):
        path.write_text(bad + "\n")
        with pytest.raises(ValueError, match="versions|unreadable_schema"):
            load_profile(path)
    v1_cases = [c for c in catalogue() if c.id.startswith(("server.v1.", "client.v1."))]
    assert v1_cases and all(c.feature == f"{c.mode}_v1" for c in v1_cases)


def test_version_0_server_refuses_version_1_and_the_v1_cases_are_unsupported(pki: Path, tmp_path: Path) -> None:
    """`sink serve --protocol-version 0` is a version-0 server (VER-9): the version-0 case expects the refusal of
    version 1, the version-1 cases are unsupported; a profile that claims version 1 makes them fail."""
    ids = ["server.handshake.unsupported-protocol-version", "server.v1.handshake.accepted", "server.v1.batch.ack"]
    cases = [c for c in catalogue() if c.id in ids]
    v0_profile = reference_profile(pki)
    v0_profile = type(v0_profile)(**{**v0_profile.__dict__, "versions": (0,)})
    with reference_server(pki, tmp_path, extra=("--protocol-version", "0")) as (host, port):
        honest = asyncio.run(run_cases(cases, host=host, port=port, profile=v0_profile))
        claimed = asyncio.run(run_cases(cases, host=host, port=port, profile=reference_profile(pki)))
    assert [(r.case.id, r.outcome) for r in honest] == [
        (ids[0], Outcome.PASS),
        (ids[1], Outcome.UNSUPPORTED),
        (ids[2], Outcome.UNSUPPORTED),
    ]
    assert "version 1:" in honest[0].observed
    assert [r.outcome for r in claimed] == [Outcome.PASS, Outcome.FAIL, Outcome.FAIL]  # version 2: refused too
    assert "unsupported_protocol_version to a version-1 request" in claimed[1].observed


def test_version_0_client_cases_play_a_version_0_server_for_a_version_1_client(pki: Path, tmp_path: Path) -> None:
    """With [client] versions = [0, 1], the version-0 cases refuse version 1 (HS-11) and go on with the client's
    fallback connection (VER-2): `sink connect --protocol-version 1` passes them (and remembers the refusal,
    VER-3); a client that offers 1 again does not."""
    from sinkcheck.client_mode import run_client_cases
    from sinkcheck.selftest import client_profile

    ids = [
        "client.handshake.request-first",
        "client.handshake.stores-server-instance-id",
        "client.handshake.refused.unsupported-protocol-version",
    ]
    cases = [c for c in catalogue() if c.id in ids]
    results = asyncio.run(
        run_client_cases(cases, listen=("127.0.0.1", 0), profile=client_profile(pki, tmp_path, version=1))
    )
    assert [(r.case.id, r.outcome) for r in results] == [(i, Outcome.PASS) for i in ids], [r.observed for r in results]
    # The first case refuses the client's version-1 offer; the client keeps that in its store (VER-3), so its
    # later connections to this runner offer version 0 at once.
    assert [any("version 1 refused" in w.decoded for w in r.wire) for r in results] == [True, False, False]
    [stuck] = asyncio.run(
        run_client_cases(
            cases[:1], listen=("127.0.0.1", 0), profile=client_profile(pki, tmp_path, mutant="no-fallback", version=1)
        )
    )
    assert stuck.outcome is Outcome.FAIL and "unsupported_version" in stuck.observed, stuck.observed


def test_a_client_without_a_store_makes_the_persistence_cases_unsupported(pki: Path, tmp_path: Path) -> None:
    """[client] keeps_store = false (the field client leaves its instance ids and unanswered events to the
    application): the cases that check what a client keeps across a restart are unsupported, with the reason;
    the others run as before."""
    import dataclasses

    from sinkcheck.client_mode import run_client_cases
    from sinkcheck.selftest import client_profile

    needs_store = {c.id for c in catalogue() if c.needs_client_store}
    assert needs_store == {
        "client.handshake.stores-server-instance-id",
        "client.delivery.resend-after-reconnect",
        "client.delivery.nacked-not-resent",
        "client.v1.batch-result",
    }
    profile_file = tmp_path / "client.toml"
    profile_file.write_text("[client]\nkeeps_store = false\n")
    assert load_profile(profile_file).client.keeps_store is False
    profile_file.write_text("[client]\n")
    assert load_profile(profile_file).client.keeps_store is True
    profile_file.write_text('[client]\nkeeps_store = "no"\n')
    with pytest.raises(ValueError, match="keeps_store"):
        load_profile(profile_file)

    profile = client_profile(pki, tmp_path)
    profile = dataclasses.replace(profile, client=dataclasses.replace(profile.client, keeps_store=False))
    ids = [
        "client.handshake.stores-server-instance-id",
        "client.delivery.resend-after-reconnect",
        "client.delivery.nacked-not-resent",
        "client.ping.pong",
    ]
    cases = [c for c in catalogue() if c.id in ids]
    results = asyncio.run(run_client_cases(cases, listen=("127.0.0.1", 0), profile=profile))
    outcomes = {r.case.id: r.outcome for r in results}
    assert outcomes == {**dict.fromkeys(ids[:3], Outcome.UNSUPPORTED), "client.ping.pong": Outcome.PASS}, [
        r.observed for r in results
    ]
    assert all("keeps_store = false" in r.observed for r in results if r.outcome is Outcome.UNSUPPORTED)


def test_coverage_lists_the_musts_of_version_1_when_the_run_exercised_it() -> None:
    from sinkcheck.coverage import requirement_coverage

    v0_only = requirement_coverage([("a", "pass", ["HS-9"]), ("b", "unsupported", ["VER-6"])], mode="server")
    assert "VER-7" not in v0_only["must_not_exercised"]  # a version-0 server: version 1 is not its business
    both = requirement_coverage([("a", "pass", ["HS-9"]), ("b", "pass", ["VER-6"])], mode="server")
    assert "VER-7" in both["must_not_exercised"] and "VER-6" not in both["must_not_exercised"]
    assert "VER-1" not in both["must_not_exercised"]  # a client's requirement


# -- the self-test, end to end, and its reports ------------------------------------------------------------


class _Html(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def check_reports(json_path: Path, junit_path: Path, html_path: Path) -> dict[str, object]:
    document = json.loads(json_path.read_text())
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    assert [e.message for e in validator.iter_errors(document)] == []
    cases = document["cases"]
    # JUnit: one testcase per case, counts that agree with the outcomes
    suite = ET.parse(junit_path).getroot()
    assert suite.tag == "testsuite" and int(suite.get("tests", -1)) == len(cases)
    testcases = suite.findall("testcase")
    assert [t.get("name") for t in testcases] == [c["id"] for c in cases]
    assert (
        int(suite.get("failures", -1))
        == len(suite.findall("testcase/failure"))
        == sum(c["outcome"] == "fail" and not c["expected_failure"] for c in cases)
    )
    assert int(suite.get("errors", -1)) == len(suite.findall("testcase/error")) == document["summary"]["error"]
    assert int(suite.get("skipped", -1)) == len(suite.findall("testcase/skipped")) == document["summary"]["unsupported"]
    for testcase, case in zip(testcases, cases):
        requirements = [p.get("value") for p in testcase.findall("properties/property[@name='requirement']")]
        assert requirements == case["requirements"]
    # HTML: self-contained, every case, every requirement linked, a wire log per case
    text = html_path.read_text()
    parser = _Html()
    parser.feed(text)
    tags = [t for t, _ in parser.tags]
    assert "script" not in tags and "link" not in tags and "img" not in tags and "iframe" not in tags
    assert tags.count("details") == sum(1 for c in cases if c["wire"])
    hrefs = {a.get("href") for t, a in parser.tags if t == "a"}
    assert set(document["requirement_links"].values()) <= hrefs
    for case in cases:
        assert f'id="{case["id"]}"' in text
    for fact in (document["kit_version"], document["catalogue_hash"], document["profile"]["name"]):
        assert str(fact) in text
    return document


def test_selftest_passes_end_to_end_and_writes_valid_reports(tmp_path: Path) -> None:
    """What CI relies on: the whole catalogue passes against the reference server and client, and
    every mutant is caught. The reference runs' reports must validate."""
    done = subprocess.run(
        [
            *SINK_CHECK,
            "selftest",
            "--json",
            str(tmp_path / "r.json"),
            "--junit",
            str(tmp_path / "r.xml"),
            "--html",
            str(tmp_path / "r.html"),
            "--docs-url",
            "https://docs.example.org/sink/",
        ],
        capture_output=True,
        text=True,
        timeout=400,
        env=ENV,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "selftest passed" in done.stdout
    assert "MISSED" not in done.stdout
    # the mutant phase: a header, then one line per mutant with its place in the run
    jobs = re.findall(r"^\[(\d+)/(\d+)\] mutant (\S+) +\d+ cases? +caught", done.stdout, re.M)
    assert re.search(r"^mutants: \d+ \(\d+ server, \d+ client\), \d+ at once", done.stdout, re.M), done.stdout[-3000:]
    assert (
        jobs
        and [int(n) for n, _, _ in jobs] == list(range(1, len(jobs) + 1))
        and {int(t) for _, t, _ in jobs} == {len(jobs)}
    )
    server = check_reports(tmp_path / "r.json", tmp_path / "r.xml", tmp_path / "r.html")
    client = check_reports(tmp_path / "r.client.json", tmp_path / "r.client.xml", tmp_path / "r.client.html")
    # the version-1 client cases run against `sink connect --protocol-version 1`, with their own reports
    client_v1 = check_reports(
        tmp_path / "r.client-v1.json", tmp_path / "r.client-v1.xml", tmp_path / "r.client-v1.html"
    )
    assert {c["id"] for c in server["cases"]} == {c.id for c in catalogue() if c.mode == "server"}  # type: ignore[index]
    assert {c["id"] for c in client["cases"]} | {c["id"] for c in client_v1["cases"]} == {  # type: ignore[index]
        c.id for c in catalogue() if c.mode == "client"
    }
    assert {c["id"] for c in client_v1["cases"]} == {c.id for c in catalogue() if c.feature == "client_v1"}  # type: ignore[index]
    assert server["summary"]["exit_code"] == client["summary"]["exit_code"] == client_v1["summary"]["exit_code"] == 0  # type: ignore[index]
    v1_outcomes = {c["id"]: c["outcome"] for c in server["cases"] if c["id"].startswith("server.v1.")}  # type: ignore[index]
    # `sink serve` declares context_bases 16: the case about a server that declares none does not apply (CTX-1)
    assert v1_outcomes.pop("server.v1.context.undeclared") == "unsupported"
    assert set(v1_outcomes.values()) == {"pass"}
    # the reference server's log is watched for crashes: ERR-5 is observed, and passes
    assert server["requirements"]["exercised"]["ERR-5"]["outcome"] == "pass"  # type: ignore[index]
    assert client_v1["requirement_links"]["VER-2"] == "https://docs.example.org/sink/spec/v1/handshake/#VER-2"  # type: ignore[index]
    assert client_v1["requirement_texts"]["VER-2"]["level"] == "MUST"  # type: ignore[index]
    # the mutants' results are in the server run's reports, JSON and HTML
    mutants = server["mutants"]  # type: ignore[index]
    assert mutants["caught"] == mutants["total"] == len(jobs) and mutants["problems"] == []
    assert sorted(m["mutant"] for m in mutants["results"]) == sorted(name for _, _, name in jobs)
    html_text = (tmp_path / "r.html").read_text()
    assert 'id="mutants"' in html_text and all(name in html_text for _, _, name in jobs)
    # the highest protocol version each run checked: the server speaks 0 and 1; the clients offer 0, and 1
    assert (server["spec_version"], client["spec_version"], client_v1["spec_version"]) == (1, 0, 1)


def test_reports_of_a_failing_run_validate(profile_file: Path, no_pong_server: tuple[str, int], tmp_path: Path) -> None:
    done = sink_check(
        "server",
        "{}:{}".format(*no_pong_server),
        "--profile",
        str(profile_file),
        "--cases",
        "server.ping.*",
        "--cases",
        PASSES_ON_NO_PONG,
        "--json",
        str(tmp_path / "r.json"),
        "--junit",
        str(tmp_path / "r.xml"),
        "--html",
        str(tmp_path / "r.html"),
    )
    assert done.returncode == 1
    document = check_reports(tmp_path / "r.json", tmp_path / "r.xml", tmp_path / "r.html")
    assert document["summary"]["unexpected_failures"] == ["server.ping.pong", "server.ping.ignored-bits"]  # type: ignore[index]
    # a failure shows the acceptable reactions beside what arrived, on the console too
    assert "acceptable: PONG 60 00" in done.stdout and "observed:" in done.stdout
    # Without --docs-url: no links (none to a machine the reader does not have), and each cited requirement's
    # text is in the report, JSON and HTML, so that a mailed report reads on its own.
    assert document["docs_url"] is None and document["requirement_links"] == {}
    assert document["requirement_texts"]["PING-1"]["level"] == "MUST"  # type: ignore[index]
    html_text = (tmp_path / "r.html").read_text()
    assert "127.0.0.1:8000" not in html_text and 'id="req-PING-1"' in html_text
    assert document["requirement_texts"]["PING-1"]["summary"] in html.unescape(html_text)  # type: ignore[index]


def test_observed_bytes_read_as_hex_and_text_in_every_report() -> None:
    from sinkcheck.model import CaseResult, Outcome, readable, show_bytes

    assert show_bytes(b"QUARANTINED") == '51 55 41 52 41 4e 54 49 4e 45 44 ("QUARANTINED")'
    assert show_bytes(b"\x00a\xff") == '00 61 ff (".a.")' and show_bytes(b"") == "(empty)"
    assert readable("machine b'E-1', human b\"it's\" (web'x' stays)") == (
        'machine 45 2d 31 ("E-1"), human 69 74 27 73 ("it\'s") (web\'x\' stays)'
    )
    case = next(c for c in catalogue() if c.id == "client.handshake.request-first")
    result = CaseResult(case, Outcome.PASS, f"connection request: app_version={b'gw/1'!r}", 0.1)
    assert result.observed == 'connection request: app_version=67 77 2f 31 ("gw/1")'
    assert "b'" not in result.to_json()["observed"]
    from sinkcheck.model import WireRecord

    assert (
        WireRecord(at=0.0, connection="c1", direction="event", hex="", decoded="note b'x'").decoded == 'note 78 ("x")'
    )


# -- client mode without --exec: the runner says what to start and waits --------------------------------


def test_client_mode_waits_for_a_client_started_by_hand(pki: Path, tmp_path: Path) -> None:
    profile = tmp_path / "client.toml"
    profile.write_text(
        f'name = "by-hand"\nca = "{pki / "ca.pem"}"\n[identities.server]\ncert = "{pki / "server.pem"}"\n'
        f'key = "{pki / "server.key"}"\n[client]\nkeepalive = 5\n'
    )
    runner = subprocess.Popen(
        [
            *SINK_CHECK,
            "client",
            "--listen",
            "127.0.0.1:0",
            "--profile",
            str(profile),
            "--cases",
            "client.handshake.request-first",
            "--json",
            str(tmp_path / "r.json"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    client = None
    try:
        assert runner.stdout is not None
        lines = []
        while not (match := re.search(r"listening on ([\d.]+):(\d+)", lines[-1] if lines else "")):
            lines.append(runner.stdout.readline())
            assert lines[-1], "".join(lines)
        lines.append(runner.stdout.readline())
        assert "start the client under test now" in lines[-1]
        client = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sinktools.cli",
                "connect",
                "--server",
                f"{match.group(1)}:{match.group(2)}",
                "--certs",
                str(pki),
                "--name",
                "sc-main",
                "--db",
                str(tmp_path / "c.db"),
                "--keepalive",
                "5",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert runner.wait(60) == 0
    finally:
        if client is not None:
            client.kill()
            client.wait()
        runner.kill()
        runner.wait()
    case = json.loads((tmp_path / "r.json").read_text())["cases"][0]
    assert case["outcome"] == "pass" and case["mode"] == "client"


def test_client_cases_that_need_a_version_1_offer_run_before_any_case_that_refuses_it() -> None:
    # A client that keeps its fallback durably (VER-3) offers 0 for the re-probe interval after one refusal.
    ids = [c.id for c in catalogue() if c.mode == "client"]
    fallback = ids.index("client.v1.fallback")
    assert all(i < fallback for i, c in enumerate(ids) if c.startswith("client.v1.") and c != "client.v1.fallback")
    assert all(i > fallback for i, c in enumerate(ids) if not c.startswith("client.v1."))
    servers = [i for i, c in enumerate(catalogue()) if c.mode == "server"]
    assert servers == list(range(len(servers)))  # server cases keep their order, before the client cases


def test_a_client_that_offers_version_0_fails_the_version_1_cases(pki: Path, tmp_path: Path) -> None:
    """ClientCaseContext.read_request(version=1): `sink connect` offering only version 0, under a profile that
    claims it offers 1, is caught at its first request (VER-1)."""
    import dataclasses

    from sinkcheck.client_mode import run_client_cases
    from sinkcheck.selftest import client_profile

    profile = client_profile(pki, tmp_path, version=0)
    claimed = dataclasses.replace(profile, client=dataclasses.replace(profile.client, versions=(0, 1)))
    cases = [c for c in catalogue() if c.id == "client.v1.fallback"]
    [result] = asyncio.run(run_client_cases(cases, listen=("127.0.0.1", 0), profile=claimed))
    assert result.outcome is Outcome.FAIL, result.observed
    assert "offered version 0 to a version-1 server it has never been refused by (VER-1)" in result.observed


def test_unknown_id_cases_name_an_id_the_server_cannot_have_in_flight(pki: Path, tmp_path: Path) -> None:
    """The ACK/NACK "for a message id the server never used" once named fixed ids (0xABC, 0xABD). A server that
    publishes on connect from a random first id (MSGID-1) had one of them in flight about once in 2,000 runs,
    rightly took the answer as valid and kept the connection: a false failure. Here its first id is that one."""
    from sinktools.commands.peers import ServeSettings, build_server

    wanted = {"server.malformed.ack-unknown-id", "server.malformed.nack-unknown-id"}
    cases = [c for c in catalogue() if c.id in wanted]
    profile = reference_profile(pki)
    settings = ServeSettings(
        certs=str(pki),
        db=str(tmp_path / "server.db"),
        keepalive=profile.keepalive,
        publish_on_connect=2,
    )

    async def main() -> list[CaseResult]:
        results: list[CaseResult] = []
        for first in (0xABC, 0xABD):
            server, store = build_server(settings, message_id_start=lambda first=first: first)
            host, port = await server.start("127.0.0.1", 0)
            try:
                results += await run_cases(cases, host=host, port=port, profile=profile)
            finally:
                await server.close()
                store.close()
        return results

    results = asyncio.run(main())
    assert len(results) == 4
    for result in results:
        assert result.outcome is Outcome.PASS, (result.case.id, result.observed)
        # the server's own events were on the wire under the old ids: the case saw them and named another
        received = {int(r.hex[:4], 16) & 0xFFF for r in result.wire if r.direction == "received" and r.hex[:1] == "4"}
        assert received & {0xABC, 0xABD}, received
