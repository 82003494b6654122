"""Refresh the abcjs files the studio's page uses from the npm registry.

    python -m tfdl.music.studio.vendor_abcjs 6.7.2

runs ``npm pack abcjs@VERSION`` (npm's own client, so its registry settings and
integrity check apply), then copies into ``static/vendor/``:

- ``abcjs-basic-min.js``: the renderer and synth, for use without a bundler;
- ``abcjs-basic-min.js.LICENSE`` and ``LICENSE.md``: the MIT licence it ships with;
- ``abcjs-audio.css``: the styles of its synth controls;
- ``abcjs.json``: the version and npm's integrity hash of the tarball they came from.

The page loads them from the studio itself: it needs no internet.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parent / "static" / "vendor"
# tarball path -> vendored name
FILES = {
    "package/dist/abcjs-basic-min.js": "abcjs-basic-min.js",
    "package/dist/abcjs-basic-min.js.LICENSE": "abcjs-basic-min.js.LICENSE",
    "package/LICENSE.md": "LICENSE.md",
    "package/abcjs-audio.css": "abcjs-audio.css",
}


def vendor(version, out=VENDOR):
    """Fetch abcjs ``version`` with ``npm pack`` and copy its files to ``out``."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed (Debian: apt-get install npm)")
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [npm, "pack", f"abcjs@{version}", "--json", "--pack-destination", tmp],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            last = (done.stderr.strip() or "no output").splitlines()[-1]
            raise RuntimeError(f"npm pack abcjs@{version} failed: {last}")
        packed = json.loads(done.stdout)[0]
        with tarfile.open(Path(tmp) / packed["filename"]) as tarball:
            members = {m.name: m for m in tarball.getmembers()}
            missing = [name for name in FILES if name not in members]
            if missing:
                raise RuntimeError(f"abcjs {version} has no {', '.join(missing)}")
            out.mkdir(parents=True, exist_ok=True)
            for name, target in FILES.items():
                (out / target).write_bytes(tarball.extractfile(members[name]).read())
    stamp = {"package": "abcjs", "version": packed["version"], "integrity": packed["integrity"]}
    (out / "abcjs.json").write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    return stamp


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("version", help="an abcjs release on npm, e.g. 6.7.2")
    args = parser.parse_args(argv)
    try:
        stamp = vendor(args.version)
    except RuntimeError as e:
        print(f"vendor_abcjs: {e}", file=sys.stderr)
        return 1
    print(f"abcjs {stamp['version']} -> {VENDOR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
