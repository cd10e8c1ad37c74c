"""python -m kvscale runs the kvscale CLI itself: same output, same exit status."""
import os
import subprocess
import sys

import pytest

from conftest import SOURCE

EXAMPLE = os.path.join(SOURCE, "examples", "llama2-7b", "kv_cache_scales.json")
# tests/python/CMakeLists.txt leaves this file out of builds without the CLI (KVSCALE_BUILD_CLI=OFF).
CLI = os.environ.get("KVSCALE_CLI_PATH")
assert CLI, "KVSCALE_CLI_PATH is not set: run the Python tests through ctest"


def run(args):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("args", [["validate", EXAMPLE], ["validate", "--json", EXAMPLE], ["inspect", EXAMPLE],
                                  ["validate", EXAMPLE + ".missing"], ["validate"], ["--version"], ["nope"]])
def test_same_as_cli(args):
    py = run([sys.executable, "-m", "kvscale"] + args)
    cli = run([CLI] + args)
    assert (py.returncode, py.stdout, py.stderr) == (cli.returncode, cli.stdout, cli.stderr)


def test_convert(tmp_path):
    out = tmp_path / "out.safetensors"
    r = run([sys.executable, "-m", "kvscale", "convert", EXAMPLE, str(out)])
    assert r.returncode == 0 and out.exists()
    import kvscale
    import numpy as np
    assert np.array_equal(kvscale.load_scales(out).k, kvscale.load_scales(EXAMPLE).k)
