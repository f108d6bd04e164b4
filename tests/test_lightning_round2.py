"""RnnlabCallback, second round (CPU, a tiny torch GRU module): what the report may claim of a
Lightning run, the loss under gradient accumulation, resuming a run from a Lightning checkpoint,
metrics of epochs without validation, the default loss on a regression, dict batches, the
arguments checked when the callback is made, and fast_dev_run."""

from __future__ import annotations

import json

import pytest
import torch

pl = pytest.importorskip("lightning.pytorch")

from lightning.pytorch.callbacks import ModelCheckpoint  # noqa: E402

from rnnlab.cli import main  # noqa: E402
from rnnlab.errors import RunDirError  # noqa: E402
from rnnlab.lightning import RnnlabCallback  # noqa: E402
from rnnlab.rundir import RunDir  # noqa: E402
from rnnlab.tracker import read_tracked  # noqa: E402


class Net(pl.LightningModule):
    def __init__(self, outputs: int = 2):
        super().__init__()
        self.rnn = torch.nn.GRU(2, 4, batch_first=True)
        self.head = torch.nn.Linear(4, outputs)
        self.losses: list[float] = []  # the loss of every training batch, as the module computed it

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])

    def _step(self, x, y, split):
        logits = self(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        self.log(f"{split}_loss", loss, on_epoch=True, on_step=False)
        self.log(f"{split}_acc", (logits.argmax(1) == y).float().mean(), on_epoch=True, on_step=False)
        return loss

    def training_step(self, batch, i):
        loss = self._step(*batch, "train")
        self.losses.append(float(loss.detach()))
        return loss

    def validation_step(self, batch, i):
        self._step(*batch, "val")

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)


class Regression(Net):
    def __init__(self):
        super().__init__(outputs=1)

    def forward(self, x):
        return super().forward(x)[:, 0]  # [B] values

    def training_step(self, batch, i):
        return torch.nn.functional.mse_loss(self(batch[0]), batch[1].float())


class DictBatches(Net):
    def training_step(self, batch, i):
        return self._step(batch["x"], batch["y"], "train")


def _data(n=24):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, 2, generator=g)
    return x, (x[:, :, 0].mean(1) > 0).long()


def _loader(n=24, **kw):
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*_data(n)), batch_size=8, **kw)


def _trainer(callbacks, epochs=2, **kw):
    settings = dict(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                    enable_model_summary=False, accelerator="cpu", num_sanity_val_steps=0)
    return pl.Trainer(callbacks=callbacks, **{**settings, **kw})


def _fit(callbacks, model=None, val=True, epochs=2, ckpt_path=None, **kw):
    torch.manual_seed(0)
    model = model if model is not None else Net()
    _trainer(callbacks, epochs=epochs, **kw).fit(model, _loader(), _loader() if val else None, ckpt_path=ckpt_path)
    return model


def _section(html, sid):
    return html.split(f'<section id="{sid}">')[1].split("</section>")[0]


def _loss_steps(run):
    return read_tracked(run)["loss"]["value"].steps.tolist()


# -------------------------------------------------------------------------- 1. the report


def test_the_report_of_a_lightning_run_does_not_call_its_fit_good(tmp_path):
    # health.json is there (the checks before training), but nothing judged the fit after
    # training: the report says so, and says plainly that such a run has no config.toml.
    run = tmp_path / "run"
    _fit([RnnlabCallback(run, weights_every=0, grads_every=0)])  # (the Fit and Configuration sections are read)
    assert RunDir(run).read_health() is not None
    assert main(["report", str(run)]) == 0
    html = (run / "report.html").read_text()
    fit = _section(html, "fit")
    assert "the checks after training (underfit, overfit) did not run" in fit and "the model fit" not in html
    config = _section(html, "configuration")
    assert 'class="nodata"' not in config and "the Lightning callback (rnnlab.lightning.RnnlabCallback)" in config


# -------------------------------------------------------------------------- 2. accumulated gradients


def test_with_accumulated_gradients_the_tracked_loss_is_the_windows_mean_in_the_modules_units(tmp_path):
    # 5 batches an epoch in windows of 2, 2 and 1: Lightning divides each micro-batch's loss by
    # 2 (the last window's too) before backward; the record is the window's mean loss.
    run = tmp_path / "run"
    model = Net()
    torch.manual_seed(0)
    _trainer([RnnlabCallback(run, weights_every=1, grads_every=0, health=False, grad_through_time=False)],
             accumulate_grad_batches=2).fit(model, _loader(40))
    windows = [[0, 1], [2, 3], [4]]
    expected = [sum(model.losses[5 * e + i] for i in w) / len(w) for e in range(2) for w in windows]
    tracked = read_tracked(run)["loss"]["value"]
    assert tracked.steps.tolist() == list(range(6))
    assert tracked.values.tolist() == pytest.approx(expected, rel=1e-6)
    # the curve is the one of metrics.jsonl's train_loss (the epoch's mean over batches)
    for record, epoch in zip(RunDir(run).read_metrics(), range(2), strict=True):
        window_sizes = [len(w) for w in windows]
        mean = sum(v * n for v, n in zip(expected[3 * epoch: 3 * epoch + 3], window_sizes, strict=True)) / 5
        assert record["train_loss"] == pytest.approx(mean, rel=1e-6)


# -------------------------------------------------------------------------- 3. resuming


def _first_fit(tmp_path, epochs=3):
    """A run of ``epochs`` epochs with a checkpoint after each (3 optimizer steps an epoch)."""
    run, ckpts = tmp_path / "run", tmp_path / "ckpt"
    _fit([RnnlabCallback(run, weights_every=1, grads_every=1),
          ModelCheckpoint(dirpath=ckpts, save_top_k=-1, every_n_epochs=1)], epochs=epochs, enable_checkpointing=True)
    return run, ckpts


def test_a_fit_resumed_from_a_checkpoint_of_the_run_continues_it_in_its_directory(tmp_path):
    run, ckpts = _first_fit(tmp_path)
    rd = RunDir(run)
    first, health = rd.read_metrics(), (run / "health.json").read_bytes()
    # From the checkpoint after epoch 1: epochs 2 and 3 (recorded after it) are trained again.
    _fit([RnnlabCallback(run, weights_every=1, grads_every=1)], epochs=4, ckpt_path=ckpts / "epoch=0-step=3.ckpt")
    records = rd.read_metrics()
    assert [r["epoch"] for r in records] == [1, 2, 3, 4] and [r["step"] for r in records] == [3, 6, 9, 12]
    assert records[0] == first[0]
    assert _loss_steps(run) == list(range(12))  # every optimizer step once
    recorded = [(r["step"], r["name"], r["stat"]) for r in rd.read_tracked()]
    assert len(recorded) == len(set(recorded))
    assert read_tracked(run)["model"]["grad_l2"].steps.tolist() == list(range(12))
    assert [(r["after_epoch"], r["step"]) for r in rd.read_resumes()] == [(1, 3)]
    assert (run / "health.json").read_bytes() == health  # the check before training is the run's first
    summary = rd.read_summary()
    assert summary["epochs"] == summary["final"]["epoch"] == 4
    assert main(["report", str(run)]) == 0
    config = _section((run / "report.html").read_text(), "configuration")
    assert "resumed at step 3 from " in config and "same config" not in config
    # A fit that does not resume the run is refused, as before.
    with pytest.raises(RunDirError, match="already holds a run; give a new directory per fit"):
        _fit([RnnlabCallback(run)], epochs=1)


def test_a_checkpoint_of_another_run_does_not_continue_into_this_one(tmp_path):
    run, _ = _first_fit(tmp_path / "a", epochs=1)
    other, ckpts = _first_fit(tmp_path / "b", epochs=1)
    before = (run / "metrics.jsonl").read_bytes()
    with pytest.raises(RunDirError, match=f"already holds a run; .* \\(this checkpoint is of the run recorded in "
                                          f"'{other}'\\)$"):
        _fit([RnnlabCallback(run)], epochs=2, ckpt_path=ckpts / "epoch=0-step=3.ckpt")
    assert (run / "metrics.jsonl").read_bytes() == before


def test_a_fit_resumed_into_a_new_directory_records_from_the_checkpoints_step(tmp_path):
    _, ckpts = _first_fit(tmp_path, epochs=2)
    new = tmp_path / "new"
    _fit([RnnlabCallback(new, weights_every=1, grads_every=1)], epochs=4, ckpt_path=ckpts / "epoch=1-step=6.ckpt")
    rd = RunDir(new)
    assert [(r["epoch"], r["step"]) for r in rd.read_metrics()] == [(3, 9), (4, 12)]
    assert _loss_steps(new) == list(range(6, 12))  # Lightning's global step, restored
    summary = rd.read_summary()
    assert summary["epochs"] == summary["final"]["epoch"] == 4
    assert [r["step"] for r in rd.read_resumes()] == [6]


# -------------------------------------------------------------------------- 4. validation every n epochs


def test_an_epoch_without_validation_records_no_validation_metrics(tmp_path):
    run = tmp_path / "run"
    _fit([RnnlabCallback(run, health=False, grad_through_time=False)], epochs=3, check_val_every_n_epoch=2)
    records = RunDir(run).read_metrics()
    assert ["val_loss" in r for r in records] == [False, True, False]
    assert all("train_loss" in r and "train_acc" in r for r in records)


# -------------------------------------------------------------------------- 5. the default loss


def test_the_default_cross_entropy_refuses_what_is_not_a_classification(tmp_path):
    run = tmp_path / "run"
    x, _ = _data()
    values = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x[:, :, 0].mean(1)), batch_size=8)
    # Float targets: refused before training, also with only the check after training on.
    with pytest.raises(ValueError, match=r"^loss_fn: the default cross-entropy expects class scores .* got targets "
                                         r"\[8\] float32; .*loss_fn=torch.nn.MSELoss\(\)\) for a regression$"):
        _trainer([RnnlabCallback(run, health=False)]).fit(Regression(), values)
    assert not (run / "metrics.jsonl").exists()
    _trainer([RnnlabCallback(run, loss_fn=torch.nn.MSELoss())]).fit(Regression(), values)
    assert RunDir(run).read_health() is not None
    # Integer targets, but outputs that are not class scores.
    with pytest.raises(ValueError, match=r"^loss_fn: .* got outputs \[8\] float32 and targets \[8\] int64; "):
        _trainer([RnnlabCallback(tmp_path / "ints")]).fit(Regression(), _loader())


# -------------------------------------------------------------------------- 6. dict batches


class _Dicts(torch.utils.data.Dataset):
    def __init__(self):
        self.x, self.y = _data()

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}


def test_dict_batches_are_explained_and_a_batch_function_picks_the_pair(tmp_path):
    loader = torch.utils.data.DataLoader(_Dicts(), batch_size=8)
    with pytest.raises(TypeError, match=r"^batch: .* got a training batch that is a dict with keys \['x', 'y'\]: "
                                        r"give RnnlabCallback\(batch=\) a function .*batch=\(x, y\)$"):
        _trainer([RnnlabCallback(tmp_path / "a")]).fit(DictBatches(), loader)
    run = tmp_path / "b"
    _trainer([RnnlabCallback(run, batch=lambda b: (b["x"], b["y"]))]).fit(DictBatches(), loader)
    assert RunDir(run).read_health() is not None and (run / "grad_through_time.json").exists()


# -------------------------------------------------------------------------- 7. arguments


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"run_dir": None}, TypeError, r"run_dir: expected a directory path \(str or os.PathLike\), got NoneType None"),
    ({"inspect_steps": 0}, ValueError, r"inspect_steps: expected a positive integer, got 0"),
    ({"weights_every": -1}, ValueError, r"weights_every: expected an integer >= 0, got -1"),
    ({"norms": "L2"}, ValueError, r"norms: expected names among \['l1', 'l2', 'linf'\], got 'L2'; did you mean 'l2'\?"),
    ({"per_channel": "yes"}, TypeError, r"per_channel: expected True or False, got str 'yes'"),
    ({"loss_fn": 3}, TypeError, r"loss_fn: expected a callable loss_fn\(output, target\) -> scalar tensor, got int 3"),
    ({"batch": 5}, TypeError, r"batch: expected an \(x, y\) pair or a function from a training batch to one, got int 5"),
])
def test_arguments_are_checked_when_the_callback_is_made(kwargs, error, message, tmp_path):
    kwargs = {"run_dir": tmp_path / "run", **kwargs}
    with pytest.raises(error, match=f"^{message}$"):
        RnnlabCallback(kwargs.pop("run_dir"), **kwargs)


def test_one_norm_name_is_one_norm(tmp_path):
    run = tmp_path / "run"
    _fit([RnnlabCallback(run, norms="linf", health=False, grad_through_time=False)], epochs=1)
    stats = read_tracked(run)["rnn.weight_hh_l0"]
    assert {"linf_mean", "linf_per_channel"} <= set(stats) and "l2_mean" not in stats


# -------------------------------------------------------------------------- 8. fast_dev_run


def test_fast_dev_run_writes_nothing_and_leaves_the_directory_to_the_real_fit(tmp_path):
    run = tmp_path / "run"
    _fit([RnnlabCallback(run)], fast_dev_run=True)
    assert not run.exists()
    _fit([RnnlabCallback(run)], epochs=1)
    assert [r["epoch"] for r in RunDir(run).read_metrics()] == [1]
    assert json.loads((run / ".rnnlab-run").read_text())["recorded_by"] == "rnnlab.lightning.RnnlabCallback"


def test_a_resumed_fit_tracks_every_update_ratio_the_uninterrupted_one_does(tmp_path):
    # (the ratio of a checkpoint's last step is written at the next step: the checkpoint carries it)
    _fit([RnnlabCallback(tmp_path / "ref", weights_every=1, grads_every=1)], epochs=3)
    run, ckpts = _first_fit(tmp_path, epochs=1)
    _fit([RnnlabCallback(run, weights_every=1, grads_every=1)], epochs=3, ckpt_path=ckpts / "epoch=0-step=3.ckpt")
    ref, resumed = read_tracked(tmp_path / "ref"), read_tracked(run)
    ratios = [name for name in ref if "update_ratio" in ref[name]]
    assert ratios
    for name in ratios:
        # (9 steps: the last one's ratio is written when the fit ends)
        assert resumed[name]["update_ratio"].steps.tolist() == ref[name]["update_ratio"].steps.tolist() == list(range(9))
