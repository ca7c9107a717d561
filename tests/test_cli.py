import json
import subprocess
import sys
from pathlib import Path

import pytest

from compeff_hf.cli import COMMANDS, main


def test_top_help_lists_every_subcommand(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ["construct", "teacher", "filter", "train", "eval", "publish", "run", "serve", "env"]:
        assert f"  {name} " in out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_subcommand_help_teaches(name, capsys):
    with pytest.raises(SystemExit) if name == "env" else _nullcontext():
        code = main([name, "--help"])
        assert code == 0
    out = capsys.readouterr().out
    assert "xample" in out  # every help shows an example
    assert f"compeff-hf {name}" in out


def test_unknown_command_suggests(capsys):
    assert main(["constuct"]) == 2
    assert "Did you mean 'construct'" in capsys.readouterr().err


def test_env_prints_versions():
    out = subprocess.run(
        [sys.executable, "-m", "compeff_hf.cli", "env", "--json"], capture_output=True, text=True, check=True
    )
    info = json.loads(out.stdout)
    assert info["packages"]["transformers"]
    assert info["packages"]["torch"].startswith("2.")
    assert info["cpu_count"] >= 1


def test_console_script_is_installed():
    # The console script sits beside the interpreter of the environment the package was installed into.
    script = str(Path(sys.executable).parent / "compeff-hf")
    out = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("compeff-hf ")


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
