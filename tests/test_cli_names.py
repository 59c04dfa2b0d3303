"""Command names and short flags: ``-m`` for ``--model`` (``evaluate``, ``predict``);
a mistyped command gets one line with the nearest name, exit 2."""
import json

import pytest
from click.testing import CliRunner

from fastsoftmax.cli import main
from fastsoftmax.data import load_digits_images


# ============================================================================ -m
@pytest.fixture(scope="module")
def digits_model(tmp_path_factory, private_data_folder):
    path = tmp_path_factory.mktemp("m") / "digits.npz"
    assert CliRunner().invoke(main, ["train", "-q", "--n-iter", "20", "-o", str(path)]).exit_code == 0
    return path


def test_evaluate_takes_m_for_model(digits_model):
    short = CliRunner().invoke(main, ["evaluate", "-m", str(digits_model), "--json"])
    long = CliRunner().invoke(main, ["evaluate", "--model", str(digits_model), "--json"])
    assert short.exit_code == 0
    assert json.loads(short.stdout)["accuracy"] == json.loads(long.stdout)["accuracy"]
    assert "-m, --model" in CliRunner().invoke(main, ["evaluate", "--help"]).output


def test_predict_takes_m_for_model(digits_model, tmp_path):
    from PIL import Image

    image = tmp_path / "eight.png"
    Image.fromarray(load_digits_images().X_test[0]).save(image)
    short = CliRunner().invoke(main, ["predict", "-m", str(digits_model), str(image)])
    long = CliRunner().invoke(main, ["predict", "--model", str(digits_model), str(image)])
    assert short.exit_code == 0 and short.stdout == long.stdout
    assert "-m, --model" in CliRunner().invoke(main, ["predict", "--help"]).output


# ============================================================================ did you mean
@pytest.mark.parametrize("args, message", [
    (["trian"], "no such command 'trian'; did you mean 'train'?"),
    (["evalute", "-m", "x.npz"], "no such command 'evalute'; did you mean 'evaluate'?"),
    (["-q", "sweap"], "no such command 'sweap'; did you mean 'sweep'?"),
    (["predcit"], "no such command 'predcit'; did you mean 'predict'?"),
    (["data", "clera"], "no such command 'clera'; did you mean 'clear'?"),
    (["data", "donwload"], "no such command 'donwload'; did you mean 'download'?"),
    (["xyz"], "no such command 'xyz'; the commands are bench, data, evaluate, features, "
              "gradcheck, predict, report, show, study, sweep, train"),
    (["data", "xyz"], "no such command 'xyz'; the commands are clear, download, info"),
    (["\x1b]0;owned\x07"], "no such command '\\x1b]0;owned\\x07'; the commands are bench, "
                           "data, evaluate, features, gradcheck, predict, report, show, "
                           "study, sweep, train"),
])
def test_unknown_command_is_one_line_with_the_nearest_name(args, message):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.output == f"Error: {message}\n"


def test_known_commands_and_options_still_resolve():
    assert CliRunner().invoke(main, ["--version"]).exit_code == 0
    assert CliRunner().invoke(main, ["data", "--help"]).exit_code == 0
    result = CliRunner().invoke(main, ["--nope"])
    assert result.exit_code == 2 and "Error: No such option '--nope'." in result.output
