import pytest

from platform_kit.cli import main

pytestmark = pytest.mark.unit


def test_cli_without_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "platform-kit" in capsys.readouterr().out


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert "0.1.0" in capsys.readouterr().out
