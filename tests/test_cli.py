"""The command line: happy path, outputs, and every bad input -> one line, exit 2, no file."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from impasto.cli import main

TINY = ["--max-long-edge", "32", "--iterations", "3", "--quiet"]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return code, err


def test_stylize_writes_image_log_plot_and_intermediates(capsys, small, tmp_path):
    out = tmp_path / "out.jpg"
    code, err = run_cli(capsys, "stylize", *small, "-o", out, "--max-long-edge", "40", "--iterations", "4",
                        "--save-every", "2", "--log-json", tmp_path / "log.jsonl", "--plot", tmp_path / "plot.png")
    assert code == 0, err
    assert Image.open(out).size == (40, 30)
    assert (tmp_path / "out_0002.jpg").exists() and (tmp_path / "out_0004.jpg").exists()
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3, 4]
    assert {"content", "style", "tv", "total", "seconds"} <= set(lines[0])
    assert Image.open(tmp_path / "plot.png").format == "PNG"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_preset_and_flags_and_gpu_alias(capsys, small, tmp_path):
    out = tmp_path / "o.png"
    code, err = run_cli(capsys, "stylize", *small, "-o", out, "--preset", "gatys", "--gpu", "-1",
                        "--content-layers", "block4_conv2", "--style-layers", "relu1_1,relu2_1",
                        "--style-layer-weights", "0.5,0.5", *TINY)
    assert code == 0, err
    assert out.exists()


def test_layers_lists_names(capsys):
    assert main(["layers", "--arch", "vgg16"]) == 0
    out = capsys.readouterr().out
    assert "relu4_2    block4_conv2" in out and "conv5_4" not in out


@pytest.mark.parametrize(
    "case",
    ["missing", "not_image", "truncated", "bomb", "bad_layer", "negative_weight", "zero_iterations",
     "unwritable", "bad_ext", "no_style", "bad_number", "bad_device", "bad_preset", "bad_weights"],
)
def test_bad_input_one_line_exit_2_no_output(capsys, small, tmp_path, content_path, case):
    content, style = small
    out = tmp_path / "out.png"
    extra: list = []
    if case == "missing":
        content = tmp_path / "nope.jpg"
    elif case == "not_image":
        content = tmp_path / "text.png"
        content.write_text("not an image")
    elif case == "truncated":
        content = tmp_path / "trunc.jpg"
        content.write_bytes(content_path.read_bytes()[:3000])
    elif case == "bomb":
        extra = ["--max-pixels", "100"]
    elif case == "bad_layer":
        extra = ["--style-layers", "relu1_1,relu7_1"]
    elif case == "negative_weight":
        extra = ["--style-weight", "-5"]
    elif case == "zero_iterations":
        extra = ["--iterations", "0"]
    elif case == "unwritable":
        out = tmp_path / "no" / "such" / "dir" / "out.png"
    elif case == "bad_ext":
        out = tmp_path / "out.bmpx"
    elif case == "no_style":
        style = None
    elif case == "bad_number":
        extra = ["--content-weight", "lots"]
    elif case == "bad_device":
        extra = ["--device", "cuda:3"]
    elif case == "bad_preset":
        extra = ["--preset", "monet"]
    elif case == "bad_weights":
        extra = ["--weights", str(tmp_path / "none.pth")]
    images = [content] + ([style] if style else [])
    code, err = run_cli(capsys, "stylize", *images, "-o", out, *TINY[:-1], *extra)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("impasto: error:"), err
    assert "Traceback" not in err
    assert not out.exists()


def test_read_only_folder(capsys, small, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    code, err = run_cli(capsys, "stylize", *small, "-o", ro / "x.png", *TINY)
    assert code == 2 and "permission" in err


def test_ctrl_c_writes_best_image_and_exits_130(small, tmp_path):
    out = tmp_path / "out.png"
    log = tmp_path / "log.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "impasto", "stylize", *map(str, small), "-o", str(out), "--max-long-edge", "64",
         "--iterations", "100000", "--stop-eps", "0", "--quiet", "--log-json", str(log)],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # a suite started in the background inherits SIGINT ignored, and Python keeps it so
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        tmp_logs = list(tmp_path.glob(".log.jsonl*.tmp"))
        if tmp_logs and tmp_logs[0].stat().st_size > 0:
            break
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert Image.open(out).size == (64, 48)
    assert log.exists()
