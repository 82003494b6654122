"""The ``tfdl`` command: ``tfdl music|digits|faces ...``, assembled from each task's commands.

Every user error (bad flag value, missing model, unreadable data) ends the
command with one line on stderr and exit status 2, never a traceback.
"""

import argparse
import sys

from tfdl.digits import cli as digits_cli
from tfdl.faces import cli as faces_cli
from tfdl.music import cli as music_cli


def _parser():
    parser = argparse.ArgumentParser(
        prog="tfdl", description="the MIT 6.S191 labs as a package: music, digits, faces"
    )
    groups = parser.add_subparsers(dest="group", required=True)
    for task in (music_cli, digits_cli, faces_cli):
        task.add_commands(groups)
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    from tfdl.checkpoints import CheckpointError
    from tfdl.music.export import MissingToolError

    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError, CheckpointError, OSError, MissingToolError) as e:
        print(f"tfdl: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tfdl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
