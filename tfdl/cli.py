"""The ``tfdl`` command: ``tfdl music|digits|faces ...``, assembled from each task's commands.

A user error (`tfdl.errors.UserError`: a bad flag value, a missing model, unreadable
data) ends the command with one line on stderr and exit status 2. Any other exception
is a bug in tfdl and shows its traceback. ``TFDL_DEBUG=1`` shows the traceback of
user errors too.
"""

import argparse
import os
import sys

import tfdl
from tfdl.digits import cli as digits_cli
from tfdl.errors import UserError
from tfdl.faces import cli as faces_cli
from tfdl.music import cli as music_cli


def _parser():
    parser = argparse.ArgumentParser(
        prog="tfdl", description="the MIT 6.S191 labs as a package: music, digits, faces"
    )
    parser.add_argument("--version", action="version", version=f"tfdl {tfdl.__version__}")
    groups = parser.add_subparsers(dest="group", required=True)
    for task in (music_cli, digits_cli, faces_cli):
        task.add_commands(groups)
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("tfdl: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if not isinstance(e, UserError) or os.environ.get("TFDL_DEBUG"):
            raise
        print(f"tfdl: error: {e}", file=sys.stderr)
        training = sys.modules.get("tfdl.training")  # not loaded: no worker was lost
        if training is not None and isinstance(e, training.WorkerLostError):
            # TensorFlow's shutdown would wait on the lost worker for seconds to minutes;
            # the run is over (and saved up to its last checkpoint): leave now.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(2)
        return 2


if __name__ == "__main__":
    sys.exit(main())
