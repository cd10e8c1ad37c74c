"""python -m kvscale runs the kvscale CLI itself: same output, same exit status."""
import os
import subprocess
import sys

import pytest

from conftest import SOURCE

EXAMPLE = os.path.join(SOURCE, "examples", "llama2-7b", "kv_cache_scales.json")
CLI = os.environ.get("KVSCALE_CLI_PATH")


def run(args):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.skipif(not CLI, reason="the build has no kvscale CLI")
@pytest.mark.parametrize("args", [["validate", EXAMPLE], ["validate", "--json", EXAMPLE], ["inspect", EXAMPLE],
                                  ["validate", EXAMPLE + ".missing"], ["validate"], ["--version"], ["nope"]])
def test_same_as_cli(args):
    py = run([sys.executable, "-m", "kvscale"] + args)
    cli = run([CLI] + args)
    assert (py.returncode, py.stdout, py.stderr) == (cli.returncode, cli.stdout, cli.stderr)


@pytest.mark.skipif(not CLI, reason="the build has no kvscale CLI")
def test_convert(tmp_path):
    out = tmp_path / "out.safetensors"
    r = run([sys.executable, "-m", "kvscale", "convert", EXAMPLE, str(out)])
    assert r.returncode == 0 and out.exists()
    import kvscale
    import numpy as np
    assert np.array_equal(kvscale.load_scales(out).k, kvscale.load_scales(EXAMPLE).k)
