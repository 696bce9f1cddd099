"""Every checker's parser, on real outputs of the real tools (tests/unit/fixtures/updates/*,
each with a header naming where it came from)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from pagerbridge.updates.checkers import (
    apk,
    apt,
    distro,
    dnf,
    docker,
    flatpak,
    homebrew,
    npm,
    pacman,
    pip,
    snap,
    wordpress,
    zypper,
)
from pagerbridge.updates.commands import CheckerError, CommandResult

sys.path.insert(0, str(Path(__file__).parent))
from test_updates_replay import (
    FIXTURES,
    HEADER_END,
    ReplayRunner,
    fixture_file,
    load_fixture,
    split_fixture,
)

fixture = load_fixture


def test_every_fixture_header_names_its_source() -> None:
    names = sorted(p.name for p in FIXTURES.iterdir())
    assert len(names) >= 40
    for name in names:
        source, output = split_fixture(name)
        assert len(source) > 40, name  # says what ran, where and when, not just a word
        assert output.strip(), name
        assert HEADER_END not in output, name  # the marker never reaches the parser


def test_the_fixture_loader_strips_exactly_the_header_and_refuses_a_bare_fixture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import test_updates_replay

    (tmp_path / "ok.txt").write_bytes(
        b"##fixture-source: captured on a test host by hand, 2026\n##fixture-end\nLine 1\r\n\n"
    )
    (tmp_path / "bare.txt").write_bytes(b"Listing...\n")
    (tmp_path / "unclosed.txt").write_bytes(b"##fixture-source: somewhere\nListing...\n")
    monkeypatch.setattr(test_updates_replay, "FIXTURES", tmp_path)
    assert split_fixture("ok.txt") == ("captured on a test host by hand, 2026", "Line 1\r\n\n")
    for bare in ("bare.txt", "unclosed.txt"):
        with pytest.raises(AssertionError, match="has no source header"):
            load_fixture(bare)


def test_apt_list_upgradable_debian12() -> None:
    updates = apt.parse_apt_list_upgradable(fixture("apt_list_upgradable_debian12.txt"))
    by_name = {u.package: u for u in updates}
    assert len(updates) == 124  # every line but "Listing..."
    assert by_name["apt"].current_version == "2.6.1"
    assert by_name["apt"].available_version == "2.6.2"
    assert by_name["apt"].security and by_name["apt"].priority == "high"
    assert not by_name["bash"].security  # from oldstable, not oldstable-security
    # a package offered by both suites is a security update
    assert by_name["krb5-locales"].security
    assert sum(u.security for u in updates) == 69


def test_apt_without_package_lists_says_what_to_do(tmp_path: Path) -> None:
    checker = apt.AptChecker.from_options({"lists_dir": str(tmp_path)}, runner=None)  # type: ignore[arg-type]
    with pytest.raises(CheckerError, match="apt-get update"):
        checker.check()


def test_dnf_check_update_fedora34() -> None:
    rows = dnf.parse_check_update(fixture("dnf_check_update_fedora34.txt"))
    assert len(rows) == 11
    assert rows[0] == ("anthy-unicode", "x86_64", "1.0.0.20201109-3.fc34", "updates")
    assert ("autocorr-en", "noarch", "1:7.1.3.2-1.fc34", "updates") in rows  # epoch kept
    assert ("bluez-libs", "i686", "5.58-2.fc34", "updates") in rows


def test_dnf_security_advisories() -> None:
    fedora = dnf.parse_security_advisories(fixture("dnf_updateinfo_list_security_fedora.txt"))
    assert fedora == {"TurboGears": ("FEDORA-2017-ad1937a146", "Moderate")}
    rhel = dnf.parse_security_advisories(fixture("yum_updateinfo_list_security_rhel7.txt"))
    assert set(rhel) == {"389-ds-base", "389-ds-base-libs"}
    assert rhel["389-ds-base-libs"] == ("RHSA-2014:1031", "Important")


def test_dnf4_and_dnf5_advisory_forms_from_dnf_test_suite() -> None:
    dnf4 = dnf.parse_security_advisories(
        fixture("dnf4_updateinfo_list_all_security_ci_dnf_stack.txt")
    )
    dnf5 = dnf.parse_security_advisories(
        fixture("dnf5_updateinfo_list_all_security_ci_dnf_stack.txt")
    )
    # the same advisory in both forms (dnf4's "i" installed marker is not part of the id)
    assert dnf4 == dnf5 == {"CQRlib": ("FEDORA-2018-318f184113", "Moderate")}
    custom = dnf.parse_security_advisories(fixture("dnf5_updateinfo_list_custom_ci_dnf_stack.txt"))
    # only Type "security" rows count (custom_type with severity Critical does not); of the
    # three security advisories naming labirinto the most severe is kept
    assert custom == {"labirinto": ("FEDORA-2019-57b5902ed1", "Critical")}


def test_dnf_merge_flags_packages_with_an_advisory() -> None:
    rows = dnf.parse_check_update(fixture("dnf_check_update_fedora34.txt"))
    advisories = dnf.parse_security_advisories(
        fixture("dnf5_updateinfo_list_all_security_ci_dnf_stack.txt")
    )
    assert not any(u.security for u in dnf.merge(rows, advisories))  # no overlap on Fedora 34
    custom = dnf.parse_security_advisories(fixture("dnf5_updateinfo_list_custom_ci_dnf_stack.txt"))
    # the row check-update would print for the package of the Critical advisory (its NEVRA)
    (critical,) = dnf.merge([("labirinto", "x86_64", "1.56.2-6.fc30", "")], custom)
    assert critical.security and critical.priority == "critical"
    assert dnf.nevra_name("389-ds-base-1.3.1.6-26.el7_0.x86_64") == "389-ds-base"


def test_dnf_checker_flow_local_repository() -> None:
    """check-update, updateinfo and rpm -q from one machine and one repository."""
    runner = ReplayRunner().add(
        ["dnf", "-q", "check-update"], "dnf_check_update_local_debian12.txt", 100
    )
    runner.add(["dnf", "-q", "updateinfo"], "dnf_updateinfo_list_security_local_debian12.txt")
    runner.add(["rpm", "-q"], "rpm_q_local_debian12.txt")
    updates = dnf.DnfChecker.from_options({}, runner).check()
    assert [(u.package, u.current_version, u.available_version) for u in updates] == [
        ("hello-web.noarch", "1.0-1", "1.0-2"),
        ("hello-web-lang.noarch", "1.0-1", "1.0-2"),
    ]
    assert all(u.security and u.priority == "high" for u in updates)
    assert updates[0].detail == "local-hello-web-2026-1 (Important)"
    assert runner.calls[-1] == ("rpm", "-q", "hello-web.noarch", "hello-web-lang.noarch")


def test_rpm_query_from_rpm_test_suite() -> None:
    installed = dnf.parse_rpm_query(fixture("rpm_q_installed_rpm_testsuite.txt"))
    assert installed == {"hello.x86_64": "2.0-1"}
    (update,) = dnf.merge([("hello", "x86_64", "", "")], {}, installed)
    assert update.current_version == "2.0-1"
    assert dnf.parse_rpm_query("") == {}


def test_dnf_checker_flow_fedora34() -> None:
    runner = ReplayRunner().add(["dnf", "-q", "check-update"], "dnf_check_update_fedora34.txt", 100)
    runner.add(["dnf", "-q", "updateinfo"], "dnf5_updateinfo_list_all_security_ci_dnf_stack.txt")
    updates = dnf.DnfChecker.from_options({}, runner).check()
    assert len(updates) == 11 and not any(u.security for u in updates)
    # current versions are asked of rpm by name.arch; without rpm they stay blank
    assert runner.calls[-1][:3] == ("rpm", "-q", "anthy-unicode.x86_64")
    assert all(u.current_version == "" for u in updates)
    # check-update's status 1 is an error, not "no updates"
    failing = ReplayRunner().add(["dnf", "-q", "check-update"], "dnf_check_update_fedora34.txt", 1)
    with pytest.raises(CheckerError, match="exited with status 1"):
        dnf.DnfChecker.from_options({}, failing).check()


def test_zypper_list_updates_leap156() -> None:
    (update,) = zypper.parse_list_updates(fixture("zypper_list_updates_leap156.txt"))
    assert update.package == "aaa_base"
    assert update.current_version == "84.87+git20180409.04c9dae-150300.10.20.1"
    assert update.available_version == "84.87+git20180409.04c9dae-150300.10.23.1"


def test_zypper_security_patches_sles12sp2() -> None:
    text = fixture("zypper_list_patches_sles12sp2.txt")
    (patch,) = zypper.parse_list_patches(text)
    assert patch.package == "SUSE-SLE-SERVER-12-SP2-2017-1252"
    assert patch.security and patch.kind == "patch" and patch.priority == "high"
    assert "libzypp" in patch.detail
    assert len(zypper.parse_list_patches(text, security_only=False)) == 2


def test_zypper_checker_flow() -> None:
    base = ["zypper", "--non-interactive", "--quiet"]
    sudo = ["sudo", "-n", *base]
    runner = ReplayRunner().add([*sudo, "list-updates"], "zypper_list_updates_leap156.txt", 100)
    runner.add([*sudo, "list-patches"], "zypper_list_patches_sles12sp2.txt", 101)
    updates = zypper.ZypperChecker.from_options({"use_sudo": True}, runner).check()
    assert [(u.package, u.kind, u.security) for u in updates] == [
        ("aaa_base", "package", False),
        ("SUSE-SLE-SERVER-12-SP2-2017-1252", "patch", True),
    ]
    assert runner.calls[1] == (*sudo, "list-patches", "--category", "security")
    # `zypper info -t patch` was not answered: the patch is kept as its own item
    assert runner.calls[2][len(sudo) :] == (
        "info",
        "-t",
        "patch",
        "SUSE-SLE-SERVER-12-SP2-2017-1252",
    )
    failing = ReplayRunner().add([*base, "list-updates"], "zypper_list_updates_leap156.txt", 104)
    with pytest.raises(CheckerError, match="status 104"):
        zypper.ZypperChecker.from_options({}, failing).check()


def test_zypper_patch_info_maps_patches_to_packages() -> None:
    fixes = zypper.parse_patch_info(fixture("zypper_info_patch_local_debian12.txt"))
    assert fixes == {"local-hello-web-2026-1": ["hello-web", "hello-web-lang"]}
    assert zypper.parse_patch_info("") == {}


def test_zypper_checker_flags_packages_its_security_patches_fix() -> None:
    base = ["zypper", "--non-interactive", "--quiet"]
    runner = ReplayRunner().add([*base, "list-updates"], "zypper_list_updates_local_debian12.txt")
    runner.add([*base, "list-patches"], "zypper_list_patches_security_local_debian12.txt")
    runner.add([*base, "info", "-t", "patch"], "zypper_info_patch_local_debian12.txt")
    updates = zypper.ZypperChecker.from_options({}, runner).check()
    assert [(u.package, u.current_version, u.available_version, u.security) for u in updates] == [
        ("hello-web", "1.0-1", "1.0-2", True),
        ("hello-web-lang", "1.0-1", "1.0-2", True),
    ]  # the patch is not reported a second time as its own item
    assert {u.priority for u in updates} == {"high"}
    assert updates[0].detail == "local-hello-web-2026-1 (Security update for hello-web)"
    assert runner.calls[-1] == (*base, "info", "-t", "patch", "local-hello-web-2026-1")
    # security_only keeps exactly those
    only = zypper.ZypperChecker.from_options({"security_only": True}, runner).check()
    assert len(only) == 2


def test_pacman_checkupdates_and_arch_audit() -> None:
    rows = pacman.parse_checkupdates(fixture("pacman_checkupdates_arch.txt"))
    assert len(rows) == 18
    assert rows[0] == ("bash", "5.3.3-2", "5.3.8-1")
    assert ("mesa", "1:25.2.7-1", "1:25.3.1-2") in rows
    audit = pacman.parse_arch_audit(fixture("arch_audit_arch.txt"))
    assert len(audit) == 10
    assert audit["libxml2"] == ("denial of service", "High")
    assert audit["openssl"][1] == "Medium"
    merged = pacman.merge([*rows, ("openssl", "3.5.0-1", "3.5.1-1")], audit)
    flagged = [u.package for u in merged if u.security]
    assert flagged == ["openssl"]


def test_apk_version_alpine318_against_321() -> None:
    updates = apk.parse_apk_version(fixture("apk_version_l_alpine318_to_321.txt"))
    assert len(updates) == 14  # every row, not the "Installed: Available:" header
    by_name = {u.package: u for u in updates}
    assert (by_name["apk-tools"].current_version, by_name["apk-tools"].available_version) == (
        "2.14.4-r0",
        "2.14.6-r3",
    )
    # names with dashes and digits split at the version, not at the first dash
    assert by_name["alpine-baselayout-data"].current_version == "3.4.3-r1"
    assert by_name["ca-certificates-bundle"].current_version == "20241121-r1"
    assert by_name["ssl_client"].available_version == "1.37.0-r14"
    assert not any(u.security for u in updates)  # apk has no security metadata
    assert apk.parse_apk_version("") == []


def test_apk_checker_runs_apk_version() -> None:
    runner = ReplayRunner().add(["apk", "version", "-l", "<"], "apk_version_l_alpine318_to_321.txt")
    updates = apk.ApkChecker.from_options({}, runner).check()
    assert len(updates) == 14 and runner.calls == [("apk", "version", "-l", "<")]


def test_snap_refresh_list_docs() -> None:
    refresh = snap.parse_snap_table(fixture("snap_refresh_list_docs.txt"))
    assert refresh == {
        "core": ("16-2.45.1+git2022.b6b3c25", "9584"),
        "get-iplayer": ("3.26", "250"),
        "qt551": ("5.5", "30"),
    }
    installed = snap.parse_snap_table(fixture("snap_list_docs.txt"))
    assert installed["blender"] == ("3.5.0", "3486")
    updates = snap.merge(refresh, {**installed, "qt551": ("5.4", "29")})
    assert {u.package: u.current_version for u in updates}["qt551"] == "5.4"


def test_flatpak_remote_ls_terminal_table() -> None:
    updates = flatpak.parse_remote_ls(fixture("flatpak_remote_ls_updates_void.txt"))
    assert [u.package for u in updates] == [
        "org.freedesktop.Platform.GL.default",
        "org.freedesktop.Platform.VAAPI.Intel",
        "org.freedesktop.Platform",
        "org.freedesktop.Sdk",
    ]
    assert updates[2].detail == "freedesktop platform"  # a name with a space stays whole
    assert updates[0].available_version == "20.08"  # empty Version: the branch


def test_homebrew_outdated_json_v2() -> None:
    (update,) = homebrew.parse_outdated_json(fixture("homebrew_outdated_json_v2.json"))
    assert (update.package, update.current_version, update.available_version) == (
        "testball",
        "0.0.1",
        "0.1",
    )
    assert update.kind == "formula"


def test_npm_outdated_global_debian12() -> None:
    updates = {
        u.package: u for u in npm.parse_outdated_json(fixture("npm_outdated_global_debian12.json"))
    }
    assert updates["npm"].current_version == "11.19.1"
    assert updates["npm"].available_version == "11.21.2"
    assert set(updates) == {"corepack", "npm"}
    assert npm.parse_outdated_json("") == []


def test_pip_list_outdated_debian12() -> None:
    (update,) = pip.parse_pip_outdated(fixture("pip_list_outdated_debian12.json"))
    assert (update.package, update.current_version, update.available_version) == (
        "setuptools",
        "65.5.0",
        "84.2.1",
    )
    with pytest.raises(CheckerError, match="not JSON"):
        pip.parse_pip_outdated("ERROR: something")


def test_docker_digests_from_docs() -> None:
    remote = docker.parse_imagetools_digest(fixture("docker_buildx_imagetools_inspect_docs.txt"))
    assert remote == "sha256:21a3deaa0d32a8057914f36584b5288d2e5ecc984380bc0118285c70fa8c9300"
    local = docker.parse_repo_digests(fixture("podman_image_inspect_fedora_docs.json"))
    assert local[0].startswith("sha256:1b0d4ddd99b1") and len(local) == 2
    assert docker.short(remote) == "21a3deaa0d32"


def test_wordpress_tables_from_wp_cli() -> None:
    plugins = wordpress.parse_wp_rows(fixture("wp_plugin_list_extension_command.txt"))
    updates = wordpress.extension_updates(plugins, "plugin", "blog")
    assert [(u.package, u.current_version, u.available_version) for u in updates] == [
        ("blog: akismet", "5.1", "5.3.5")
    ]  # "none" and "unavailable" (requirements not met) are not pending updates
    themes = wordpress.extension_updates(
        wordpress.parse_wp_rows(fixture("wp_theme_list_ideas174.txt")), "theme", "blog"
    )
    assert themes[0].package == "blog: twentytwentyone" and themes[0].kind == "theme"
    core = wordpress.core_updates(
        wordpress.parse_wp_rows(fixture("wp_core_check_update_handbook.txt")), "4.5.1", "blog"
    )
    assert core[0].available_version == "4.5.2" and core[0].kind == "core"
    assert (
        wordpress.core_updates(
            wordpress.parse_wp_rows(fixture("wp_core_check_update_handbook.txt")), "4.5.2", "blog"
        )
        == []
    )
    assert wordpress.parse_wp_rows("Success: WordPress is at the latest version.") == []


def test_wordpress_json_from_wp_cli() -> None:
    assert (
        wordpress.parse_wp_rows(fixture("wp_core_check_update_json_none_core_command.json")) == []
    )
    plugins = wordpress.parse_wp_rows(fixture("wp_plugin_list_json_apiscp.json"))
    assert [p["name"] for p in plugins] == ["akismet", "hello"]
    (update,) = wordpress.extension_updates(plugins, "plugin", "blog")
    assert (update.package, update.current_version, update.kind) == (
        "blog: akismet",
        "4.2.3",
        "plugin",
    )
    # a PHP notice before the JSON line (even one with brackets) does not hide it
    noisy = "[23-Nov-2026 03:00:00 UTC] PHP Deprecated: x\n" + fixture(
        "wp_plugin_list_json_apiscp.json"
    )
    assert wordpress.parse_wp_rows(noisy) == plugins
    with pytest.raises(CheckerError, match="neither JSON nor a table"):
        wordpress.parse_wp_rows("Error: This does not seem to be a WordPress installation.")


class _WpRunner:
    """wp-cli answering from recorded outputs; stderr as a test sets it."""

    def __init__(self, stderr: str = "") -> None:
        self.stderr = stderr
        self.calls: list[tuple[str, ...]] = []

    def which(self, program: str) -> str | None:
        return None

    def run(self, argv: Sequence[str]) -> CommandResult:
        args = tuple(argv)
        self.calls.append(args)
        name = {
            ("core", "version"): "wp_core_version_handbook.txt",
            ("core", "check-update"): "wp_core_check_update_handbook.txt",
            ("plugin", "list"): "wp_plugin_list_json_apiscp.json",
            ("theme", "list"): "wp_theme_list_ideas174.txt",  # the table form is read as well
        }[(args[2], args[3])]
        return CommandResult(args, 0, fixture(name), self.stderr)


def test_wordpress_checker_per_site() -> None:
    runner = _WpRunner()
    options = {"sites": [{"name": "blog", "path": "/srv/blog"}], "allow_root": True}
    updates = wordpress.WordPressChecker.from_options(options, runner).check()
    # core: the handbook's install is at 4.5.2 and its check-update offers 4.5.2: nothing newer
    assert [(u.package, u.kind, u.current_version) for u in updates] == [
        ("blog: akismet", "plugin", "4.2.3"),
        ("blog: twentytwentyone", "theme", "1.7"),
    ]
    assert [call[2:4] for call in runner.calls] == [
        ("core", "version"),
        ("core", "check-update"),
        ("plugin", "list"),
        ("theme", "list"),
    ]
    assert all("--format=json" in call for call in runner.calls[1:])
    assert all(
        call[1] == "--path=/srv/blog" and call[-1] == "--allow-root" for call in runner.calls
    )


def test_wordpress_update_api_failure_is_a_checker_failure() -> None:
    """core-command's feature "Check update shows warning when version check API fails": STDERR
    contains this warning while wp-cli exits 0. Not checked is not "up to date"."""
    runner = _WpRunner(stderr="Warning: Failed to check for updates")
    options = {"sites": [{"name": "blog", "path": "/srv/blog"}]}
    with pytest.raises(CheckerError, match=r"blog.*Failed to check for updates"):
        wordpress.WordPressChecker.from_options(options, runner).check()


def test_distro_debian12_against_distro_info() -> None:
    info = distro.parse_os_release(fixture("os_release_debian12.txt"))
    assert (info["ID"], info["VERSION_ID"]) == ("debian", "12")
    stable = fixture("debian_distro_info_stable_release_debian12.txt").strip()
    upgrade = distro.debian_upgrade(info["VERSION_ID"], stable)
    assert upgrade is not None and upgrade.available_version == "13"
    assert upgrade.kind == "release"
    assert distro.debian_upgrade("13", "13") is None


def test_do_release_upgrade_ubuntu() -> None:
    offered = distro.parse_do_release_upgrade(fixture("do_release_upgrade_c_new_ubuntu1604.txt"))
    assert offered == "18.04.4 LTS"
    assert (
        distro.parse_do_release_upgrade(fixture("do_release_upgrade_none_ubuntu1804.txt")) is None
    )
    # "no release" after a failed download means "not checked": a failure, not a clean answer
    with pytest.raises(CheckerError, match=r"meta-release-lts; release not checked"):
        distro.parse_do_release_upgrade(fixture("do_release_upgrade_offline_ubuntu1804.txt"))


def test_distro_checker_on_ubuntu(tmp_path: Path) -> None:
    options = {"os_release": str(fixture_file("os_release_ubuntu2404.txt", tmp_path))}
    none = ReplayRunner().add(["do-release-upgrade"], "do_release_upgrade_none_ubuntu1804.txt", 1)
    assert distro.DistroChecker.from_options(options, none).check() == []
    assert none.calls == [("do-release-upgrade", "-c")]
    offline = ReplayRunner().add(
        ["do-release-upgrade"], "do_release_upgrade_offline_ubuntu1804.txt", 1
    )
    with pytest.raises(CheckerError, match="release not checked"):
        distro.DistroChecker.from_options(options, offline).check()
    broken = ReplayRunner().add(["do-release-upgrade"], "do_release_upgrade_none_ubuntu1804.txt", 2)
    with pytest.raises(CheckerError, match="exited with status 2"):
        distro.DistroChecker.from_options(options, broken).check()


def test_docker_ps_json_from_docs() -> None:
    assert docker.parse_ps(fixture("docker_ps_format_json_docs.txt")) == [
        ("boring_keldysh", "nginx")
    ]
    assert docker.parse_ps("") == []
    with pytest.raises(CheckerError, match="line 1 is not JSON"):
        docker.parse_ps("CONTAINER ID   IMAGE")  # a table: --format was not honoured


def test_docker_checker_compares_pulled_and_registry_digests() -> None:
    """The flow over docker's and podman's documented outputs (from different machines, so the
    digests differ: the running image counts as outdated)."""
    runner = ReplayRunner().add(["docker", "ps"], "docker_ps_format_json_docs.txt")
    runner.add(["docker", "image", "inspect"], "podman_image_inspect_fedora_docs.json")
    runner.add(
        ["docker", "buildx", "imagetools", "inspect"], "docker_buildx_imagetools_inspect_docs.txt"
    )
    (update,) = docker.DockerChecker.from_options({}, runner).check()
    assert (update.package, update.source, update.kind) == ("boring_keldysh", "nginx", "image")
    assert (update.current_version, update.available_version) == ("1b0d4ddd99b1", "21a3deaa0d32")
    assert runner.calls[0] == ("docker", "ps", "--format", "{{json .}}")
    assert runner.calls[1][-1] == "nginx" and runner.calls[2][-1] == "nginx"
    excluded = docker.DockerChecker.from_options({"exclude": ["boring_keldysh"]}, runner).check()
    assert excluded == []
    only_other = docker.DockerChecker.from_options({"containers": "db"}, runner).check()
    assert only_other == []


def test_docker_recognises_bare_image_ids() -> None:
    """A container started from an image id has no registry reference to compare with, so the
    checker skips it; ids look like the docs' container ID (short) or a full sha256 digest."""
    (row,) = [json.loads(line) for line in fixture("docker_ps_format_json_docs.txt").splitlines()]
    assert docker.is_image_id(row["ID"])
    assert docker.is_image_id(
        "sha256:" + "21a3deaa0d32a8057914f36584b5288d2e5ecc984380bc0118285c70fa8c9300"
    )
    assert not docker.is_image_id(row["Image"])  # "nginx": a repository reference
