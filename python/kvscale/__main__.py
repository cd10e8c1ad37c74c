"""python3 -m kvscale <command> ...: the kvscale command-line tool itself (validate, inspect, convert,
roundtrip, bench), run in place of this process with the same arguments and exit status. The
binary is the one CMake recorded in _paths.py (the build tree's, or the installed bin/kvscale), or
$KVSCALE_CLI."""
import os
import sys

from . import _paths


def cli_path():
    env = os.environ.get("KVSCALE_CLI")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, _paths.CLI))


def main():
    path = cli_path()
    if not os.access(path, os.X_OK):
        sys.exit("kvscale: the command-line tool is not installed at %s (set KVSCALE_CLI)" % path)
    sys.stdout.flush()
    os.execv(path, ["kvscale"] + sys.argv[1:])


if __name__ == "__main__":
    main()
