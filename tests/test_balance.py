"""Tests of ``python -m tradeoff_lib.balance`` and the helpers behind it (anymodel, imagefolder, candidates)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import tradeoff_lib as tl
from tradeoff_lib import anymodel, balance, candidates
from tradeoff_lib.imagefolder import image_shape, load_image_folder
from tradeoff_lib.techniques import pruning, quantization

SHAPE = (3, 16, 16)


def tiny_cnn():
    """A module:factory for the tests: a 3-class SmallCNN for 16x16 RGB images."""
    return tl.make_cnn(width=4, num_classes=3, in_channels=3, image_size=16)


def not_a_module():
    return "a string"


class HeadFirst(nn.Module):
    """Registers its output layer *before* its body: registration order is not execution order."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(8, 3)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x):
        return self.head(self.body(x))


def make_folder(root: Path, *, n_per_class=12, classes=("a", "b", "c"), seed=0) -> Path:
    """Class folders of 20x20 RGB images whose mean colour depends on the class (learnable in a few steps)."""
    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(n_per_class):
            base = np.zeros((20, 20, 3))
            base[..., k % 3] = 200 - 100 * (k // 3)
            pixels = np.clip(base + rng.normal(0, 30, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


# --- anymodel ----------------------------------------------------------------------------------------------------


def test_load_model_kinds(tmp_path):
    assert isinstance(anymodel.load_model("torchvision:resnet18"), nn.Module)
    assert isinstance(anymodel.load_model("tests.test_balance:tiny_cnn"), tl.SmallCNN)
    m = tiny_cnn().eval()
    x = torch.randn(1, *SHAPE)
    torch.export.save(torch.export.export(m, (x,)), tmp_path / "m.pt2")
    loaded = anymodel.load_model(str(tmp_path / "m.pt2"))
    assert torch.allclose(loaded(x), m(x), atol=1e-5)


@pytest.mark.parametrize("spec, error, text", [
    ("torchvision:resnet_nope", ValueError, "resnet_nope"),
    ("tests.test_balance:not_a_module", TypeError, "not an nn.Module"),
    ("tests.test_balance:SHAPE", TypeError, "callable"),
    ("no_such_module_xyz:f", ValueError, "cannot import"),
    ("missing.pt2", ValueError, "no such file"),
    ("resnet18", ValueError, "torchvision:<name>"),
])
def test_load_model_bad(spec, error, text):
    with pytest.raises(error, match=text):
        anymodel.load_model(spec)


def test_load_weights(tmp_path):
    good, other = tiny_cnn(), tl.make_cnn(width=8, num_classes=3, in_channels=3, image_size=16)
    torch.save(good.state_dict(), tmp_path / "w.pt")
    torch.save(other.state_dict(), tmp_path / "other.pt")
    loaded = anymodel.load_model("tests.test_balance:tiny_cnn", weights=tmp_path / "w.pt")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), good.state_dict().values()))
    with pytest.raises(ValueError, match="does not match"):
        anymodel.load_weights(tiny_cnn(), tmp_path / "other.pt")
    with pytest.raises(ValueError, match="no such file"):
        anymodel.load_weights(tiny_cnn(), tmp_path / "none.pt")


def test_parse_and_check_input_shape():
    assert anymodel.parse_input_shape("3,224,224") == (3, 224, 224)
    assert anymodel.parse_input_shape("3x32x32") == (3, 32, 32)
    for bad in ("3,a,4", "0,4,4", ""):
        with pytest.raises(ValueError, match="input-shape"):
            anymodel.parse_input_shape(bad)
    assert anymodel.check_input_shape(tiny_cnn(), SHAPE) == 3
    with pytest.raises(ValueError, match="rejected"):
        anymodel.check_input_shape(tiny_cnn(), (1, 16, 16))
    with pytest.raises(ValueError, match="logits"):
        anymodel.check_input_shape(nn.Identity(), SHAPE)


def test_output_layer_follows_execution_not_registration():
    m, x = HeadFirst(), torch.randn(1, *SHAPE)
    assert list(pruning.prunable_layers(m))[-1] == "body.0"      # what "last registered" would keep
    assert anymodel.executed_layers(m, x) == ["body.0", "head"]
    assert anymodel.output_layer(m, x) == "head"
    assert anymodel.output_layer(nn.Sequential(nn.Flatten()), x) is None
    pruned = anymodel.prune_channels_auto(m, 0.5, x)
    assert pruned.head.out_features == 3 and pruned(x).shape == (1, 3)
    assert pruned.body[0].out_channels == 4 and m.body[0].out_channels == 8      # input untouched
    assert tl.applied(pruned)[-1]["technique"] == "prune_channels"


def test_large_linear_layers_and_factorize():
    m = tiny_cnn()
    names = anymodel.large_linear_layers(m, min_features=2)
    linear = [n for n, mod in m.named_modules() if isinstance(mod, nn.Linear)]
    assert names and set(names) <= set(linear)
    big = nn.Sequential(nn.Flatten(), nn.Linear(768, 256), nn.ReLU(), nn.Linear(256, 3))
    assert anymodel.large_linear_layers(big) == ["1"]                 # 3 outputs < min_features
    out = anymodel.factorize_large_linear(big, rank_fraction=0.25)
    assert isinstance(out[1], nn.Sequential) and out[1][0].out_features == 64
    assert isinstance(big[1], nn.Linear)
    assert tl.applied(out)[-1] == {"technique": "lowrank", "rank_fraction": 0.25, "energy": None, "ranks": {"1": 64}}
    with pytest.raises(ValueError, match="no large Linear"):
        anymodel.factorize_large_linear(nn.Sequential(nn.Conv2d(3, 3, 1)))
    with pytest.raises(ValueError, match="exactly one"):
        anymodel.factorize_large_linear(big, rank_fraction=0.5, energy=0.9)


def test_int8_auto_real_or_refuses(monkeypatch):
    m, x = tiny_cnn().eval(), torch.randn(1, *SHAPE)
    q = anymodel.int8_auto(m, [torch.randn(4, *SHAPE)], x)
    assert tl.applied(q)[-1]["method"] != "fake_int8"
    monkeypatch.setattr(quantization, "available_methods",
                        lambda: {k: k == "fake_int8" for k in quantization.METHODS})
    with pytest.raises(RuntimeError, match="fake int8"):
        anymodel.int8_auto(m, [torch.randn(4, *SHAPE)], x)
    convs = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    with pytest.raises(RuntimeError, match="left this model's weights in float"):
        anymodel.int8_auto(convs, None, x, method="eager_dynamic")            # no nn.Linear to quantize


# --- imagefolder -------------------------------------------------------------------------------------------------


def test_load_image_folder(tmp_path):
    root = make_folder(tmp_path / "imgs")
    assert image_shape(root) == (3, 20, 20)
    s = load_image_folder(root, SHAPE, seed=1)
    assert (len(s.train), len(s.val), len(s.test)) == (26, 5, 5)            # 15 % of 36, rounded
    assert s.train.images.shape[1:] == SHAPE and s.info.num_classes == 3 and s.info.class_names == ("a", "b", "c")
    assert sorted(np.bincount(s.val.labels.numpy())) == [1, 2, 2]    # stratified
    again = load_image_folder(root, SHAPE, seed=1)
    assert torch.equal(again.test.images, s.test.images)
    grey = load_image_folder(root, (1, 8, 8), max_images=9)
    assert grey.train.images.shape == (9, 1, 8, 8)


def test_load_image_folder_with_splits_and_bad(tmp_path):
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        make_folder(tmp_path / "split" / split, n_per_class=n)
    s = load_image_folder(tmp_path / "split", SHAPE)
    assert (len(s.train), len(s.val), len(s.test)) == (18, 6, 9)
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images"):
        load_image_folder(tmp_path / "empty", SHAPE)
    with pytest.raises(ValueError, match="not a folder"):
        load_image_folder(tmp_path / "nope", SHAPE)
    with pytest.raises(ValueError, match="too few"):
        load_image_folder(make_folder(tmp_path / "small", n_per_class=1), SHAPE)


# --- candidates --------------------------------------------------------------------------------------------------


def row(name, p50, *, meets=True, exact=False, val=None, status="measured"):
    r = {"name": name, "status": status, "p50_ms": p50, "meets_deadline": meets, "exact": exact}
    if val is not None:
        r.update(val_accuracy=val, val_f1=val)
    return r


def test_choose_rules():
    no_data = [row("fp32 eager", 2.0, meets=False, exact=True), row("onnxruntime", 0.9, exact=True),
               row("int8", 0.5), {"name": "x", "status": "not applicable", "reason": "r"}]
    best, why = candidates.choose(no_data)
    assert best["name"] == "onnxruntime" and "int8" in why                 # lossy but fast: to verify with data
    assert candidates.choose(no_data[:1] + no_data[2:])[0] is None
    data = [row("fp32 eager", 2.0, meets=False, val=0.90), row("a", 1.0, val=0.895), row("b", 0.5, val=0.85),
            row("c", 0.7, val=0.895)]
    assert candidates.choose(data, accuracy_tolerance=0.01)[0]["name"] == "c"   # tie on F1 -> faster
    assert candidates.choose(data, accuracy_tolerance=0.06)[0]["name"] == "c"
    assert candidates.choose(data, accuracy_tolerance=0.001)[0] is None


def test_build_measure_plot_export(tmp_path):
    m, x = tiny_cnn().eval(), torch.randn(1, *SHAPE)
    tuned = []
    cands = candidates.build_candidates(m, x, calibration=[torch.randn(4, *SHAPE)], prune_ratios=(0.5,),
                                        runtimes=("onnxruntime",), fine_tune=lambda mod, name: tuned.append(name))
    names = [c.name for c in cands]
    assert names[0] == "fp32 eager" and any(n.startswith("int8 (") for n in names) and "prune 50% channels" in names
    assert all((c.model is None) != (c.reason is None) for c in cands)
    assert "prune 50% channels" in tuned and tuned[0].startswith("fp32")   # the control gets the same fine-tune
    built = {c.name: c.model for c in cands if c.model is not None}
    stats = tl.compare_latency(built, x, repeats=10, warmup=1)
    rows = candidates.candidate_rows(cands, stats, x, budget_ms=1e6)
    assert all(r["meets_deadline"] for r in rows if r["status"] == "measured")
    assert rows[0]["speedup_p50"] == 1.0 and rows[0]["flops"] == tl.count_flops(m, x)
    pruned = next(r for r in rows if r["name"] == "prune 50% channels")
    assert pruned["flops"] < rows[0]["flops"] and pruned["size_bytes"] < rows[0]["size_bytes"]
    tight = candidates.candidate_rows(cands, stats, x, budget_ms=1e-6, mode="hard")
    assert not any(r.get("meets_deadline") for r in tight)
    candidates.plot_candidates(rows, budget_ms=1.0, path=tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 0
    prod = candidates.export_for_production(cands[0], x, tmp_path)
    assert prod["file"] == "model.pt2"
    assert torch.allclose(torch.export.load(tmp_path / prod["file"]).module()(x), m(x), atol=1e-5)
    assert candidates.model_size(m) == tl.size_bytes(m)


def test_validation_metrics(tmp_path):
    s = load_image_folder(make_folder(tmp_path / "imgs"), SHAPE)
    v = candidates.validation_metrics(tiny_cnn(), s, n_boot=200)
    assert 0 <= v["val_accuracy_low"] <= v["val_accuracy"] <= v["val_accuracy_high"] <= 1 and v["val_n"] == 5
    assert v["val_f1_low"] <= v["val_f1"] <= v["val_f1_high"]


def test_default_out():
    assert balance.default_out("torchvision:resnet18").name == "torchvision_resnet18"
    assert balance.default_out("/x/my model.pt2").name == "my_model"


@pytest.mark.parametrize("args, text", [
    (["torchvision:resnet_nope", "--input-shape", "3,32,32"], "resnet_nope"),
    (["tests.test_balance:not_a_module", "--input-shape", "3,16,16"], "not an nn.Module"),
    (["tests.test_balance:tiny_cnn", "--input-shape", "1,16,16"], "rejected"),
    (["tests.test_balance:tiny_cnn"], "--input-shape"),
    (["tests.test_balance:tiny_cnn", "--input-shape", "3,16,16", "--budget-ms", "0"], "--budget-ms"),
    (["tests.test_balance:tiny_cnn", "--input-shape", "3,16,16", "--budget-ms", "-3"], "--budget-ms"),
    (["tests.test_balance:tiny_cnn", "--input-shape", "3,16,16", "--speedup", "0"], "--speedup"),
    (["tests.test_balance:tiny_cnn", "--input-shape", "3,16,16", "--threads", "0"], "--threads"),
    (["tests.test_balance:tiny_cnn", "--input-shape", "3,16,16", "--weights", "WRONG"], "does not match"),
    (["tests.test_balance:tiny_cnn", "--data", "EMPTY"], "no images"),
    (["tests.test_balance:tiny_cnn", "--data", "FOUR", "--input-shape", "3,16,16"], "4 classes"),
    (["tests.test_balance:tiny_cnn", "--data", "FOUR"], "rejected"),
])
def test_bad_input_exits_2(tmp_path, capsys, args, text):
    torch.save(tl.make_cnn(width=8).state_dict(), tmp_path / "wrong.pt")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    make_folder(tmp_path / "four", n_per_class=3, classes=("a", "b", "c", "d"))
    subs = {"WRONG": str(tmp_path / "wrong.pt"), "EMPTY": str(tmp_path / "empty"), "FOUR": str(tmp_path / "four")}
    out = tmp_path / "out"
    assert balance.main([subs.get(a, a) for a in args] + ["--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and text in err and "\n" not in err
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def _run(tmp_path, args):
    out = tmp_path / "out"
    assert balance.main(args + ["--quick", "--out", str(out)]) == 0
    assert (out / "index.html").exists() and (out / "balance_model.html").exists()
    assert not list(tmp_path.glob(".out*"))                                   # staging renamed, nothing left over
    return out, json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_command_torchvision_latency_only(tmp_path, name):
    out, s = _run(tmp_path, [f"torchvision:{name}", "--input-shape", "3,64,64", "--speedup", "1.5"])
    measured = [r for r in s["candidates"] if r["status"] == "measured"]
    assert len(measured) >= 4 and measured[0]["name"] == "fp32 eager"
    assert all(r["reason"] for r in s["candidates"] if r["status"] != "measured")
    # the capstone's rule: the fp32 model's soft-deadline latency / 1.5; with --quick's 30 calls a 1 % miss
    # tolerance allows no late call, so that latency is the slowest call
    assert s["requirement"]["budget_ms"] == pytest.approx(measured[0]["max_ms"] / 1.5)
    assert all(r["p50_ms"] <= r["p99_ms"] <= r["max_ms"] for r in measured)
    assert not any("val_accuracy" in r for r in measured) and s["environment"]["cpu_capability"]
    assert s["profile"] and s["num_classes"] == 1000
    if s["choice"] is not None:
        chosen = next(r for r in measured if r["name"] == s["choice"]["name"])
        assert chosen["exact"] and chosen["meets_deadline"] and (out / s["choice"]["production"]["file"]).exists()


def test_command_image_folder(tmp_path):
    root = make_folder(tmp_path / "imgs", n_per_class=16)
    model, splits = tiny_cnn(), load_image_folder(root, SHAPE)
    tl.fit(model, tl.train_loader(splits.train, 16), epochs=3, lr=0.01, progress=False)   # trained a few steps
    torch.save(model.state_dict(), tmp_path / "w.pt")
    out, s = _run(tmp_path, ["tests.test_balance:tiny_cnn", "--weights", str(tmp_path / "w.pt"), "--data", str(root),
                             "--input-shape", "3,16,16", "--budget-ms", "1000", "--accuracy-tolerance", "5"])
    measured = [r for r in s["candidates"] if r["status"] == "measured"]
    assert len(measured) >= 4 and all("val_accuracy" in r and "val_f1_low" in r for r in measured)
    assert s["data_sizes"] == {"train": 34, "val": 7, "test": 7}
    assert measured[0]["val_accuracy"] > 0.5                  # the trained weights were loaded
    choice = s["choice"]
    assert choice is not None and set(choice["test"]) == {"fp32 eager", choice["name"]}
    chosen = next(r for r in measured if r["name"] == choice["name"])
    assert chosen["val_accuracy"] >= measured[0]["val_accuracy"] - 0.05 - 1e-12
    assert max(r["val_f1"] for r in measured if r["val_accuracy"] >= measured[0]["val_accuracy"] - 0.05) == \
        chosen["val_f1"]


def test_balance_notebook_is_stripped_parametrized_and_outside_the_series():
    import nbformat
    import papermill as pm

    from tradeoff_lib import report

    assert balance.NOTEBOOK not in report.list_notebooks()
    nb = nbformat.read(str(balance.NOTEBOOK), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert code[0].metadata.get("tags") == ["parameters"]
    declared = pm.inspect_notebook(str(balance.NOTEBOOK))
    assert {"MODEL", "DATA", "INPUT_SHAPE", "LATENCY_BUDGET_MS", "SPEEDUP_TARGET", "QUICK",
            "REPORT_DIR"} <= set(declared)
    args = balance.parser().parse_args(["tests.test_balance:tiny_cnn", "--input-shape", "3,16,16"])
    assert set(balance.check_inputs(args)) <= set(declared)        # every parameter the command passes is declared


def test_new_notebook_parameters_are_checked():
    tl.check_parameters(MODEL="torchvision:resnet18", WEIGHTS=None, DATA=None, INPUT_SHAPE="3,8,8",
                        LATENCY_BUDGET_MS=None, SPEEDUP_TARGET=2.0, QUICK=True)
    with pytest.raises(ValueError, match="LATENCY_BUDGET_MS"):
        tl.check_parameters(LATENCY_BUDGET_MS=0)
    with pytest.raises(ValueError, match="SPEEDUP_TARGET"):
        tl.check_parameters(SPEEDUP_TARGET=-1.0)
    with pytest.raises(TypeError, match="QUICK"):
        tl.check_parameters(QUICK="yes")
    with pytest.raises(TypeError, match="MODEL"):
        tl.check_parameters(MODEL=None)


def test_write_index(tmp_path):
    summary = {"model": "m<x>", "input_shape": "3,8,8", "environment": {"cpu": "c"},
               "requirement": {"mode": "hard", "budget_ms": 1.5, "budget_from": "given"},
               "candidates": [{"name": "fp32 eager", "status": "measured", "p50_ms": 1.0},
                              {"name": "onnxruntime", "status": "not applicable", "reason": "no onnx"}],
               "choice": {"name": "fp32 eager", "why": "fastest",
                          "production": {"runtime": "eager", "file": "model.pt2"}}}
    page = balance.write_index(tmp_path, summary).read_text()
    assert "Ship fp32 eager" in page and "no onnx" in page and "m&lt;x&gt;" in page and "1.500 ms" in page
    page = balance.write_index(tmp_path, {**summary, "choice": None, "why": "too slow"}).read_text()
    assert "No candidate meets the requirement" in page and "too slow" in page


def test_runtime_candidates_and_onnx_export(tmp_path, monkeypatch):
    import sys

    m, x = tiny_cnn().eval(), torch.randn(1, *SHAPE)
    (ort,) = candidates.runtime_candidates(m, x, include=("onnxruntime",))
    assert ort.name == "onnxruntime" and ort.exact and ort.model is not None
    assert torch.allclose(ort.model(x), m(x), atol=1e-4)
    prod = candidates.export_for_production(ort, x, tmp_path)
    assert prod["file"] == "model.onnx" and (tmp_path / "model.onnx").stat().st_size > 0
    (int8,) = candidates.runtime_candidates(m, x, include=("onnxruntime int8",))
    assert int8.model is None and "calibration" in int8.reason                 # no calibration data: a reason
    monkeypatch.setitem(sys.modules, "tradeoff_lib.runtimes", None)          # a version without runtimes
    monkeypatch.delattr(tl, "runtimes", raising=False)
    (missing,) = candidates.runtime_candidates(m, x)
    assert missing.model is None and "runtimes" in missing.reason
    q = candidates.int8_candidate(m, x, [torch.randn(4, *SHAPE)])
    assert q.name == "int8 (torch.ao fx_static)" and q.model is not None
