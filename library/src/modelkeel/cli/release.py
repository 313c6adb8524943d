"""The `release` and `sign` commands: preflight, tag creation, the bundle's signature, and publishing a bundle
as a GitHub Release with `gh`."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..bundle.layout import LINEAGE
from ..utils.console import say
from .context import Context


def add_parsers(sub: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    release = sub.add_parser("release", help="check, then publish this bundle as a GitHub Release with `gh`")
    release.add_argument("--tag", required=True, help="the git tag to release, v<project version>")
    release.add_argument("--bundle", type=Path, help="bundle folder (default: dist/<project>-<version of the tag>)")
    release.add_argument("--dry-run", action="store_true", help="run every check and print the plan; publish nothing")
    release.add_argument(
        "--preflight",
        action="store_true",
        help="only the checks that need no bundle (tag, repository, existing release)",
    )
    release.add_argument(
        "--create-tag",
        action="store_true",
        help="create the tag on GitHub at $GITHUB_SHA if it does not exist (gh api)",
    )
    release.add_argument(
        "--remove-tag",
        action="store_true",
        help="after a failed release: remove the tag at $GITHUB_SHA if no release uses it",
    )
    sign = sub.add_parser(
        "sign",
        help="sign a bundle into its bundle.sig (OpenSSF model signing): a key pair, or Sigstore keyless in Actions",
    )
    sign.add_argument("bundle", nargs="?", type=Path, help="bundle folder (default: the bundle of --tag in dist/)")
    sign.add_argument("--tag", help="the tag to be released, v<version>: signs dist/<project>-<version>")
    sign.add_argument(
        "--key",
        type=Path,
        help="PEM elliptic-curve private key file (default: the PEM text in $MODEL_SIGNING_KEY; "
        "neither: Sigstore keyless, which needs GitHub Actions' id-token: write)",
    )
    keygen = sub.add_parser(
        "keygen",
        help="make a key pair for signing offline or on a self-hosted runner: keys/release.pub for "
        "registry.signer.public_key, keys/release.pem for the MODEL_SIGNING_KEY secret",
    )
    keygen.add_argument("--dest", type=Path, default=Path("keys"), help="folder for the two files (default: keys)")
    return [release, sign, keygen]


def keygen(ctx: Context) -> int:
    """A new P-256 key pair; an existing one is never overwritten (a lost private key cannot be made again)."""
    from ..bundle.signing import make_key_pair
    from ..errors import SettingsError

    dest: Path = ctx.args.dest
    taken = [p for p in (dest / "release.pem", dest / "release.pub") if p.exists()]
    if taken:
        raise SettingsError(f"keygen: {', '.join(map(str, taken))} exists already; nothing was written (move it first)")
    private, public = make_key_pair(dest)
    say(f"keygen: {public} (commit it) and {private} (secret: never commit it)")
    say(f"keygen: in params.yaml, registry:  signer: {{public_key: {public}}}")
    say(
        f"keygen: store {private}'s text as the MODEL_SIGNING_KEY secret (GitHub: gh secret set MODEL_SIGNING_KEY < {private}), then delete it here"
    )
    return 0


def sign(ctx: Context) -> int:
    import tempfile

    from ..bundle.signing import sign as sign_bundle
    from ..bundle.signing import verify_signature
    from ..bundle.tarball import check_tarball
    from ..bundle.verify import verify
    from ..registry.release import tagged_bundle

    if ctx.args.bundle:
        folder = ctx.args.bundle
    elif ctx.args.tag:
        folder = tagged_bundle(ctx.settings.dist_dir, ctx.settings.root, ctx.args.tag)
    else:
        folder = ctx.default_bundle()
    # only a bundle that passes verify, with a tarball holding exactly its files, is signed (and then attested)
    bundle = verify(folder).bundle
    tarball = check_tarball(bundle.folder)
    key_text = os.environ.get("MODEL_SIGNING_KEY", "")
    with tempfile.TemporaryDirectory(prefix="sign-") as scratch:
        key = ctx.args.key
        if key is None and key_text.strip():
            key = Path(scratch) / "key.pem"  # the secret never lands in the project
            key.touch(mode=0o600)
            key.write_text(key_text)
        signature = sign_bundle(bundle.folder, key)
    how = (
        f"with the key {ctx.args.key.name}"
        if ctx.args.key
        else "with $MODEL_SIGNING_KEY"
        if key
        else "keyless (Sigstore)"
    )
    say(f"sign: {signature} ({how})")
    if ctx.signer is not None:  # the project names its signer: prove the signature is that signer's
        verify_signature(bundle.folder, ctx.signer, bundle.version, str(bundle.folder))
        say("sign: the signature verifies against registry.signer")
    if os.environ.get("GITHUB_OUTPUT"):  # the exact files to attest: this bundle's SHA256SUMS and tarball
        from ..bundle.layout import CHECKSUMS
        from ..github.actions import write_outputs

        def relative(path: Path) -> str:
            path = path.resolve()
            return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)

        write_outputs(
            Path(os.environ["GITHUB_OUTPUT"]),
            {"checksums": relative(bundle.folder / CHECKSUMS), "tarball": relative(tarball)},
        )
    return 0


def release(ctx: Context) -> int:
    from ..bundle.lineage import project_version
    from ..registry import release as registry_release

    args, settings = ctx.args, ctx.settings
    repo = registry_release.release_repo(args.repo or settings.registry.github_repo)
    if args.remove_tag:
        say(f"release: {registry_release.remove_tag(repo, args.tag)}")
        return 0
    bundle = args.bundle or registry_release.tagged_bundle(settings.dist_dir, settings.root, args.tag)
    if args.preflight:
        version = registry_release.release_version(bundle, project_version(settings.root))
        registry_release.preflight(version, args.tag, repo)
        if os.environ.get("GITHUB_REF", "").startswith("refs/tags/"):  # a pushed tag: reviewed commits only
            sha = os.environ.get("GITHUB_SHA", "")
            say(f"release: {registry_release.on_default_branch(repo, sha, os.environ.get('DEFAULT_BRANCH', ''))}")
        say(f"release: {args.tag} can be released to {repo} (version {version}, no release of it yet)")
        return 0
    # every check first (the signature too, when params.yaml names a signer): a refusal leaves no tag behind
    from ..bundle.lineage import project_name

    # the project's own wheel (its contract and model builder) and the hashed runtime requirements, modelkeel among them
    wheels = settings.dist_dir / "wheel"
    runtime = registry_release.runtime_assets(wheels, project_name(settings.root), project_version(settings.root))
    plan = registry_release.plan(bundle, args.tag, repo, signer=ctx.signer, runtime=runtime)
    say(plan.describe())
    if args.create_tag:
        made = registry_release.create_tag(repo, args.tag)
        say(f"release: {made}")
        if os.environ.get("GITHUB_OUTPUT"):  # release-untag removes only a tag this run created
            from ..github.actions import write_outputs

            write_outputs(
                Path(os.environ["GITHUB_OUTPUT"]), {"created": str(made.startswith(registry_release.CREATED)).lower()}
            )
    elif args.dry_run:
        say("release: dry run, nothing published. Would run: " + plan.shell_command())
    else:
        from ..data.manifest import store_release_data

        store_release_data(settings, plan.bundle, json.loads((plan.bundle / LINEAGE).read_text(encoding="utf-8")))
        registry_release.publish(plan)
        say(f"release: published {plan.tag} to {plan.repo}")
    return 0


COMMANDS = {"release": release, "sign": sign, "keygen": keygen}
