"""Hostile names: nothing read from a file or folder name reaches the terminal raw.

Class names (image-folder names, CIFAR ``batches.meta`` label names, a model file's
class names), image file names and paths in errors carry terminal escapes here:
``ESC]0;...BEL`` (retitles the terminal), ``ESC[2J`` (clears it), a carriage return
and a newline.  Every case runs the command as a user would and asserts that stdout
and stderr hold none of those characters raw, and the exact escaped text
(:func:`fastsoftmax.cli.output.printable`) where the name is printed, in text and in
JSON alike; the folders are listed before and after where the command writes.
"""
import json
import os
import pickle

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from fastsoftmax.cli import main
from fastsoftmax.cli.output import message_of, printable, printable_json
from fastsoftmax.io.model_file import load_arrays, save_arrays

TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J"
#: Class names, one escape each, and how they print.
HOSTILE = {f"cat{TITLE}": r"cat\x1b]0;pwned\x07", f"dog{CLEAR}": r"dog\x1b[2J",
           "bird\rX": r"bird\rX", "fish\nY": r"fish\nY"}
RAW = ("\x1b", "\x07", "\r")

pytestmark = pytest.mark.usefixtures("private_data_folder")


def _invoke(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def _assert_inert(result):
    """No escape, bell or carriage return in stdout or stderr; lines end where ours do."""
    for stream in (result.stdout, result.stderr):
        assert not any(c in stream for c in RAW), repr(stream)
    assert "Traceback" not in result.output


def _listing(folder):
    return sorted(os.path.relpath(os.path.join(root, name), folder)
                  for root, dirs, files in os.walk(folder) for name in dirs + files)


# ====================================================================== the one rule
def test_printable_escapes_what_a_terminal_acts_on_and_keeps_letters():
    text = "a\x1b]0;t\x07b\x1b[2Jc\rd\ne\tf\x7fg\x9bh\u202ei\udcffj é 日本 \\x1b"
    assert printable(text) == (r"a\x1b]0;t\x07b\x1b[2Jc\rd\ne\tf\x7fg\x9bh\u202ei\udcffj "
                               "é 日本 \\x1b")
    assert printable(printable(text)) == printable(text)  # idempotent: a {path!r} stays
    assert printable("plain name") == "plain name" and printable(7) == "7"


def test_printable_json_escapes_keys_and_values_in_the_string_itself():
    value = {f"k{CLEAR}": [f"v{TITLE}", 3, None, {"x": "y\n"}], "n": 1.5}
    assert printable_json(value) == {r"k\x1b[2J": [r"v\x1b]0;pwned\x07", 3, None,
                                                   {"x": r"y\n"}], "n": 1.5}


def test_message_of_keeps_ours_whole_and_others_first_line():
    def ours():  # raised by a fastsoftmax module: one line by construction
        from fastsoftmax.data.folder import _check_root

        _check_root(f"missing{CLEAR}\nsecond")

    with pytest.raises(FileNotFoundError) as info:
        ours()
    assert message_of(info.value) == r"missing\x1b[2J\nsecond: no such folder"
    try:
        raise ValueError("first line\x1b[2J\nadvice of another library")
    except ValueError as exc:
        assert message_of(exc) == r"first line\x1b[2J"


# ====================================================================== image folders
def _image(seed, pattern):
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:16, 0:16]
    stripes = np.where(((rows, cols, rows + cols)[pattern] + seed) % 4 < 2, 200, 50)
    return np.clip(stripes[:, :, None] + rng.integers(-20, 21, (16, 16, 3)), 0,
                   255).astype(np.uint8)


def _hostile_folder(root, per_class, seed=0):
    """root/<hostile class>/<k><hostile>.png, 16x16 stripes by class."""
    for c, name in enumerate(HOSTILE):
        folder = root / name
        folder.mkdir(parents=True)
        for k in range(per_class):
            Image.fromarray(_image(seed + k, c % 3)).save(folder / f"{k}{CLEAR}.png",
                                                          format="PNG")
    return root


@pytest.fixture(scope="module")
def hostile_model(tmp_path_factory):
    """A model trained by ``train`` on an image folder whose name and class names are hostile."""
    base = tmp_path_factory.mktemp("names")
    root = _hostile_folder(base / f"set{CLEAR}", 6)
    model = base / "model.npz"
    result = _invoke("train", "-v", "--data", root, "--n-iter", 20, "--model", model)
    assert result.exit_code == 0, result.output
    return base, root, model, result


def test_train_on_a_hostile_folder_prints_its_name_escaped(hostile_model):
    base, root, model, result = hostile_model
    _assert_inert(result)
    shown = r"folder:set\x1b[2J"
    assert f"{shown}: 19 training and 5 test images of 16x16x3" in result.stderr.splitlines()
    assert f"fastsoftmax: data: {shown} from {printable(str(root))}" in result.stderr.splitlines()
    assert result.stdout.splitlines()[-1] == f"model saved to {model}"
    assert load_arrays(model)[0]["class_names"] == sorted(HOSTILE)  # the names kept exact


def test_train_json_on_a_hostile_folder(hostile_model, tmp_path):
    _, root, _, _ = hostile_model
    result = _invoke("train", "--json", "--data", root, "--n-iter", 20)
    assert result.exit_code == 0, result.output
    _assert_inert(result)
    assert r'"data": "folder:set\\x1b[2J"' in result.stdout  # the JSON text holds the escape
    assert json.loads(result.stdout)["data"] == r"folder:set\x1b[2J"


def test_evaluate_prints_hostile_class_names_escaped_in_text_and_json(hostile_model, tmp_path):
    _, _, model, _ = hostile_model
    test = _hostile_folder(tmp_path / f"test{TITLE}", 2, seed=50)
    before = _listing(tmp_path)
    text = _invoke("evaluate", "--model", model, "--data", test)
    assert text.exit_code == 0, text.output
    _assert_inert(text)
    lines = text.stdout.splitlines()
    assert lines[0].startswith(r"folder:test\x1b]0;pwned\x07: 8 test images, accuracy ")
    width = max(len(shown) for shown in HOSTILE.values())
    for name, shown in HOSTILE.items():
        assert sum(line.startswith(f"  {shown:<{width}} ") for line in lines) == 2  # scores, matrix
    as_json = _invoke("evaluate", "--model", model, "--data", test, "--json")
    assert as_json.exit_code == 0, as_json.output
    _assert_inert(as_json)
    payload = json.loads(as_json.stdout)
    assert payload["class_names"] == [HOSTILE[n] for n in sorted(HOSTILE)]
    assert payload["data"] == r"folder:test\x1b]0;pwned\x07"
    assert _listing(tmp_path) == before  # nothing written


def test_predict_prints_hostile_image_and_class_names_escaped(hostile_model):
    _, root, model, _ = hostile_model
    image = root / "fish\nY" / f"0{CLEAR}.png"
    result = _invoke("predict", "--model", model, image, "--top-k", 4)
    assert result.exit_code == 0, result.output
    _assert_inert(result)
    (line,) = result.stdout.splitlines()
    path, _, classes = line.partition(": ")
    assert path == printable(str(image)) and path.endswith(r"fish\nY/0\x1b[2J.png")
    assert sorted(part.rsplit(" ", 1)[0] for part in classes.split(", ")) == sorted(HOSTILE.values())
    as_json = _invoke("predict", "--model", model, image, "--json")
    _assert_inert(as_json)
    payload = json.loads(as_json.stdout)
    assert payload["predictions"][0]["image"] == printable(str(image))
    assert payload["predictions"][0]["top"][0]["class"] in HOSTILE.values()


def test_predict_error_naming_a_hostile_image_is_escaped(hostile_model, tmp_path):
    _, _, model, _ = hostile_model
    missing = tmp_path / f"gone{TITLE}\n.png"
    result = _invoke("predict", "--model", model, missing)
    assert result.exit_code == 2
    _assert_inert(result)
    assert result.stderr == f"Error: {printable(str(missing))}: no such image file\n"
    assert printable(str(missing)).endswith(r"gone\x1b]0;pwned\x07\n.png")


def test_error_naming_a_hostile_data_path_is_escaped(hostile_model, tmp_path):
    missing = tmp_path / f"nothing{CLEAR}\rhere"
    download = ("run `fastsoftmax data download` (or pass --download to `fastsoftmax train`) "
                "to fetch CIFAR-10 into the cache folder")
    for command, advice in ((["train"], download),
                            (["evaluate", "--model", hostile_model[2]], "check the path")):
        result = _invoke(*command, "--data", missing)
        assert result.exit_code == 2, result.output
        _assert_inert(result)
        assert result.stderr == (f"Error: {tmp_path}/nothing\\x1b[2J\\rhere: no such file or "
                                 f"folder; {advice}\n")


def test_a_hostile_folder_of_one_class_is_an_error_naming_it_escaped(tmp_path):
    root = tmp_path / "one"
    (root / f"only{TITLE}").mkdir(parents=True)
    Image.fromarray(_image(0, 0)).save(root / f"only{TITLE}" / "a.png")
    result = _invoke("train", "--data", root)
    assert result.exit_code == 2
    _assert_inert(result)
    assert result.stderr == (f"Error: {root}: found one class (only\\x1b]0;pwned\\x07); "
                             "need at least two\n")


# ====================================================================== CIFAR batches.meta
@pytest.fixture(scope="module")
def hostile_cifar(tmp_path_factory):
    from test_data import write_py_cifar

    folder = tmp_path_factory.mktemp("cifar") / "cifar-10-batches-py"
    write_py_cifar(folder, n_train=(20,), n_test=10, dump=lambda obj: pickle.dumps(obj, 2))
    names = [*HOSTILE, *(f"c{k}" for k in range(6))]
    (folder / "batches.meta").write_bytes(pickle.dumps(
        {b"label_names": [n.encode() for n in names]}, protocol=2))
    model = folder.parent / "cifar.npz"
    result = _invoke("train", "--data", folder, "--n-iter", 5, "--model", model, "-q")
    assert result.exit_code == 0, result.output
    _assert_inert(result)
    return folder, model, names


def test_evaluate_on_cifar_with_hostile_label_names(hostile_cifar):
    folder, model, names = hostile_cifar
    result = _invoke("evaluate", "--model", model, "--data", folder)
    assert result.exit_code == 0, result.output
    _assert_inert(result)
    width = max(len(printable(n)) for n in names + ["weighted avg"])
    for name in names:
        assert f"  {printable(name):<{width}} " in result.stdout
    as_json = _invoke("evaluate", "--model", model, "--data", folder, "--json")
    _assert_inert(as_json)
    assert json.loads(as_json.stdout)["class_names"] == [printable(n) for n in names]


# ====================================================================== model files
def test_model_file_class_names_are_printed_escaped(hostile_cifar, tmp_path):
    _, model, _ = hostile_cifar
    metadata, arrays = load_arrays(model)
    for key in ("format", "format_version", "kind"):
        metadata.pop(key)
    metadata["class_names"] = [f"n{k}{TITLE}" for k in range(10)]
    edited = tmp_path / "edited.npz"
    save_arrays(edited, "ImagePipeline", metadata, arrays)
    image = tmp_path / "x.png"
    Image.fromarray(_image(1, 0)).resize((32, 32)).save(image)
    result = _invoke("predict", "--model", edited, image, "--top-k", 10)
    assert result.exit_code == 0, result.output
    _assert_inert(result)
    printed = result.stdout.partition(": ")[2].split(", ")
    assert sorted(p.rsplit(" ", 1)[0] for p in printed) == sorted(
        rf"n{k}\x1b]0;pwned\x07" for k in range(10))
    # the digits' classes are not the model's: the error lists the model's names, escaped
    wrong = _invoke("evaluate", "--model", edited)
    assert wrong.exit_code == 2
    _assert_inert(wrong)
    assert wrong.stderr.startswith("Error: digits: class '0', '1', '2', '3', '4' ... is not a "
                                   r"class the model knows (n0\x1b]0;pwned\x07, n1\x1b]0;")


# ====================================================================== data info
def test_data_info_prints_a_hostile_data_folder_escaped(tmp_path):
    home = tmp_path / f"home{TITLE}\n"
    env = {"FASTSOFTMAX_DATA": str(home)}
    text = _invoke("data", "info", env=env)
    assert text.exit_code == 0, text.output
    _assert_inert(text)
    assert text.stdout.splitlines()[0] == (f"data folder: {printable(str(home))} "
                                           "(from $FASTSOFTMAX_DATA)")
    as_json = _invoke("data", "info", "--json", env=env)
    _assert_inert(as_json)
    assert json.loads(as_json.stdout)["data_home"] == printable(str(home))
    assert not home.exists()  # info creates nothing


def test_click_usage_errors_quote_hostile_names():
    result = _invoke(f"tr{CLEAR}ain")
    assert result.exit_code == 2
    _assert_inert(result)
    assert result.stderr == "Error: no such command 'tr\\x1b[2Jain'; did you mean 'train'?\n"
