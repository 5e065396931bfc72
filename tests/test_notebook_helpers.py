import pytest

import tradeoff_lib as tl


def test_report_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("TRADEOFF_REPORT_DIR", str(tmp_path / "env"))
    assert tl.report_dir(None) == (tmp_path / "env").resolve()
    assert tl.report_dir(tmp_path / "given") == (tmp_path / "given").resolve()
    assert (tmp_path / "given").is_dir()
    monkeypatch.delenv("TRADEOFF_REPORT_DIR")
    assert tl.report_dir(None).name == "interactive"


def test_check_parameters_of_the_runtimes_notebook():
    tl.check_parameters(RESNET_REPEATS=6, NUM_CALIBRATION_BATCHES=4, CHANNEL_AMOUNT=0.5, GEMM_SIZE=1024, COPY_MB=256,
                        COMPILE=True)
    with pytest.raises(ValueError, match="GEMM_SIZE must be in"):
        tl.check_parameters(GEMM_SIZE=8)
    with pytest.raises(ValueError, match="CHANNEL_AMOUNT must be in"):
        tl.check_parameters(CHANNEL_AMOUNT=1.0)
    with pytest.raises(TypeError, match="COMPILE must be"):
        tl.check_parameters(COMPILE="yes")


def test_show_source_and_environment():
    code = tl.show_source(tl.accuracy)
    assert "def accuracy" in getattr(code, "data", code)
    with pytest.raises(TypeError, match="obj must be a function"):
        tl.show_source(3)
    env = tl.environment_info()
    assert {"torch", "threads", "cpu", "python"} <= set(env)


def test_environment_reports_cpu_capability_and_isa_flags():
    import torch

    from tradeoff_lib.notebook import cpu_capability, cpu_isa_flags

    env = tl.environment_info()
    assert env["cpu_capability"] == cpu_capability() == str(torch.backends.cpu.get_cpu_capability())
    flags = cpu_isa_flags()
    assert env["cpu_isa"] == ",".join(flags)
    assert all(isinstance(f, str) and f == f.lower() for f in flags)
    if env["cpu_capability"] in ("AVX2", "AVX512"):  # the kernel level implies the CPU has at least AVX2
        assert "avx2" in flags


def test_check_parameters_distillation_lists():
    ok = tl.check_parameters(SEEDS=[0, 1, 2], TUNE_SEEDS=[100], LRS=[1e-3, 3e-3], TEMPERATURES=[2, 4],
                             ALPHAS=[0.5, 0.9], N_LABELLED=350, TEACHER_DATA="all", STUDENT_WIDTH=8, STUDENT_EPOCHS=4)
    assert ok["LRS"] == [1e-3, 3e-3]
    for bad, match in [({"SEEDS": [0, 0]}, "SEEDS must not repeat"), ({"SEEDS": []}, "SEEDS must hold"),
                       ({"LRS": [0.0]}, r"LRS\[0\]"), ({"ALPHAS": [1.5]}, r"ALPHAS\[0\]"),
                       ({"TEMPERATURES": 4}, "TEMPERATURES"), ({"N_LABELLED": 5}, "N_LABELLED"),
                       ({"TEACHER_DATA": "some"}, "TEACHER_DATA"), ({"TUNE_SEEDS": [-1]}, r"TUNE_SEEDS\[0\]")]:
        with pytest.raises((TypeError, ValueError), match=match):
            tl.check_parameters(**bad)
def test_apply_test_parameters_rewrites_only_the_named_assignments():
    from tradeoff_lib.notebook import apply_test_parameters, notebook_test_parameters

    src = 'SEED = 0            # first seed\nEPOCHS = 4          # epochs\nLR_GRID = [0.001, 0.01]\nEPOCHS_X = 9'
    out = apply_test_parameters(src, {"EPOCHS": 2, "LR_GRID": [0.01]})
    assert out.splitlines() == ["SEED = 0            # first seed", "EPOCHS = 2          # epochs",
                                "LR_GRID = [0.01]", "EPOCHS_X = 9"]
    ns = {}
    exec(out, ns)
    assert ns["EPOCHS"] == 2 and ns["LR_GRID"] == [0.01]
    with pytest.raises(ValueError, match="'EPOCS'"):
        apply_test_parameters(src, {"EPOCS": 2})
    assert notebook_test_parameters({"tradeoff": {"test_parameters": {"EPOCHS": 2}}}) == {"EPOCHS": 2}
    assert notebook_test_parameters({}) == {}
    with pytest.raises(TypeError, match="test_parameters"):
        notebook_test_parameters({"tradeoff": {"test_parameters": [1]}})


def test_check_parameters_knows_train_threads_and_n_seeds():
    tl.check_parameters(TRAIN_THREADS=1, N_SEEDS=3)
    with pytest.raises(ValueError, match="TRAIN_THREADS"):
        tl.check_parameters(TRAIN_THREADS=0)
    with pytest.raises(ValueError, match="N_SEEDS"):
        tl.check_parameters(N_SEEDS=0)
