"""Where the commands find the kit's files (sinkkit), and what the peers the runner starts see.

tests/test_wheel.py runs every command from an installed wheel; these are the
same rules, checked in the checkout.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sinkcheck.paths import SPEC_REGISTRY, SPEC_REGISTRY_V1, kit_scripts, peer_environment, profile_template
from sinkcheck.profile import load_profile
from sinkcheck.runner import load_expected_failures
from sinkkit import checkout_root, kit_argument, kit_file, kit_root
from sinkproto.certs import make_dev_pki
from sinkproto.schemas import find_schemas_dir
from sinktest import ROOT
from sinktools import cli as sink_cli
from sinktools.commands import vectors as vector_commands


def test_in_a_checkout_the_kit_files_are_the_repositorys() -> None:
    assert checkout_root() == ROOT and kit_root() == ROOT
    assert kit_file("vectors/v0") == ROOT / "vectors" / "v0"
    assert kit_file("vectors/nothing-here") is None
    assert SPEC_REGISTRY == ROOT / "spec" / "v0" / "requirements.toml"
    assert SPEC_REGISTRY_V1 == ROOT / "spec" / "v1" / "requirements.toml"


def test_a_users_own_schemas_and_vectors_win(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "registry.toml").write_text("")
    (tmp_path / "vectors" / "v0").mkdir(parents=True)
    below = tmp_path / "a" / "b"
    below.mkdir(parents=True)
    assert find_schemas_dir(below) == tmp_path / "schemas"
    assert vector_commands.find_vectors_dir(below) == tmp_path / "vectors" / "v0"


def test_elsewhere_the_kits_own_schemas_and_vectors(tmp_path: Path) -> None:
    assert find_schemas_dir(tmp_path) == ROOT / "schemas"
    assert vector_commands.find_vectors_dir(tmp_path) == ROOT / "vectors" / "v0"


def test_kit_argument_names_the_kits_copy_only_when_nothing_here_has_that_name(tmp_path: Path) -> None:
    shim = "conformance/shims/python_reference.py"
    assert kit_argument(shim, tmp_path) == str(ROOT / shim)
    (tmp_path / "conformance" / "shims").mkdir(parents=True)
    (tmp_path / shim).write_text("# mine\n")
    assert kit_argument(shim, tmp_path) == shim  # the user's file of that name wins
    for word in (
        "python",
        "--codec",
        "construct",
        "tests/sinktest.py",
        "../conformance/shims/python_reference.py",
        "conformance/shims/no-such-shim.py",
    ):
        assert kit_argument(word, tmp_path) == word


def test_expected_failures_by_the_kits_name_from_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ids = load_expected_failures(Path("conformance/profiles/elixir-field.expected-failures"))
    assert ids and all(i.startswith(("server.", "client.")) for i in ids)


def test_peers_find_the_kits_own_sink_first(tmp_path: Path) -> None:
    folder = kit_scripts()
    assert folder is not None and (folder / "sink").is_file()
    env = peer_environment({"PATH": os.pathsep.join(["/usr/bin", str(folder), "/bin"]), "OTHER": "kept"})
    assert env["PATH"].split(os.pathsep) == [str(folder), "/usr/bin", "/bin"] and env["OTHER"] == "kept"
    assert shutil.which("sink", path=env["PATH"]) == str(folder / "sink")
    assert shutil.which("sink", path=peer_environment({"PATH": str(tmp_path)})["PATH"]) == str(folder / "sink")


def test_the_profile_template_points_at_certs_beside_it(tmp_path: Path) -> None:
    (tmp_path / "profile.toml").write_text(profile_template())
    make_dev_pki(tmp_path / "certs", ["sc-main", "sc-quarantined", "sc-client"])
    make_dev_pki(tmp_path / "certs-other", ["sc-main"])
    profile = load_profile(tmp_path / "profile.toml")
    reference = load_profile(ROOT / "conformance" / "profiles" / "reference.toml")
    assert profile.ca == tmp_path / "certs" / "ca.pem"
    assert set(profile.identities) == set(reference.identities) == {"main", "quarantined", "other_ca", "server"}
    for identity in profile.identities.values():
        assert identity.cert.is_file() and identity.key.is_file() and identity.cert.is_relative_to(tmp_path)
    # Everything but the paths is the reference profile's.
    assert {**profile.__dict__, "ca": None, "identities": None, "source": None, "raw": None} == {
        **reference.__dict__,
        "ca": None,
        "identities": None,
        "source": None,
        "raw": None,
    }
    with pytest.raises(ValueError, match="no profile 'nope'.*reference"):
        profile_template("nope")


def test_regenerate_outside_a_checkout_says_it_needs_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(vector_commands, "checkout_root", lambda: None)  # as from an installed wheel
    with pytest.raises(SystemExit, match="needs a checkout of the kit"):
        sink_cli.main(["vectors", "regenerate", "--dry-run"])
