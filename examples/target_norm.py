"""Target weight norm on a real task: GunPoint, an LSTM classifier, AdamW.

Three runs from the same initial weights and batches:

* ``none``: no decay on the LSTM weights — the norm they reach by themselves;
* ``fixed``: a fixed decay (the controller's starting value) on the LSTM kernel and recurrent
  weights;
* ``controlled``: the same start, with :class:`rnnlab.optim.target_norm.TargetNormController`
  adjusting the decay every few steps toward a target mean channel norm.

The target is a fraction of the norm reached without decay (so it is reachable by decay). The
controlled run ends within ±10% of it; the fixed decay does not.

Run: ``python examples/target_norm.py [--plot target_norm.png]`` (about 2 minutes of CPU time;
``--quick`` for the reduced run of ``tests/test_target_norm.py``).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

import rnnlab
from rnnlab.optim.decoupled import AdamW
from rnnlab.optim.target_norm import TargetNormController, group_channel_norms
from rnnlab.regularize.groups import Rule, param_groups


def load_gunpoint_sequences(stride: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """GunPoint as ``[N, T, 1]`` float tensors, normalized with the training split's statistics."""
    from aeon.datasets import load_gunpoint

    x_tr, y_tr = load_gunpoint(split="train")
    x_te, y_te = load_gunpoint(split="test")
    x_tr = np.asarray(x_tr, dtype=np.float32).transpose(0, 2, 1)[:, ::stride]  # [N, T, 1]
    x_te = np.asarray(x_te, dtype=np.float32).transpose(0, 2, 1)[:, ::stride]
    mean, std = x_tr.mean(), x_tr.std()
    classes = sorted(set(y_tr))
    to_idx = {c: i for i, c in enumerate(classes)}
    return (
        torch.from_numpy((x_tr - mean) / std),
        torch.tensor([to_idx[c] for c in y_tr]),
        torch.from_numpy((x_te - mean) / std),
        torch.tensor([to_idx[c] for c in y_te]),
    )


class Classifier(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.lstm = rnnlab.LSTM(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def mean_norm(group: dict) -> float:
    """Mean per-channel L2 norm of a param group (what the controller steers)."""
    return float(group_channel_norms(group).mean())


@dataclass
class RunResult:
    label: str
    final_norm: float
    test_acc: float
    norms: list[float] = field(default_factory=list)
    decays: list[float] = field(default_factory=list)


def train(
    label: str,
    data: tuple[torch.Tensor, ...],
    *,
    hidden: int,
    steps: int,
    lr: float,
    decay: float,
    target: float | None,
    every: int,
    seed: int,
    mode: str = "rate",
    gain: float = 0.5,
    ki: float = 0.1,
) -> RunResult:
    x_tr, y_tr, x_te, y_te = data
    torch.manual_seed(seed)
    model = Classifier(hidden)
    groups = param_groups(
        model, [Rule(role=("kernel", "recurrent"), module_type=rnnlab.LSTM, weight_decay=decay, label="lstm")]
    )
    opt = AdamW(groups, lr=lr, weight_decay=0.0)
    ctl = None
    if target is not None:
        ctl = TargetNormController(opt, {"lstm": target}, every=every, mode=mode, gain=gain, ki=ki)
    lstm_group = next(g for g in opt.param_groups if g["name"] == "lstm")
    gen = torch.Generator().manual_seed(seed)
    result = RunResult(label, math.nan, math.nan)
    batch = 25
    for step in range(1, steps + 1):
        idx = torch.randperm(len(x_tr), generator=gen)[:batch]
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x_tr[idx]), y_tr[idx])
        loss.backward()
        opt.step()
        if ctl is not None:
            ctl.step()
        if step % every == 0:
            result.norms.append(mean_norm(lstm_group))
            result.decays.append(float(lstm_group["weight_decay"]))
    result.final_norm = mean_norm(lstm_group)
    with torch.no_grad():
        model.eval()
        result.test_acc = float((model(x_te).argmax(1) == y_te).float().mean())
    return result


def run_experiment(
    *,
    stride: int = 3,
    hidden: int = 16,
    steps: int = 400,
    lr: float = 1e-2,
    decay: float = 1e-2,
    target_fraction: float = 0.6,
    every: int = 10,
    seed: int = 0,
) -> dict[str, RunResult | float]:
    """Run ``none``, ``fixed`` and ``controlled``; return their results and the target."""
    data = load_gunpoint_sequences(stride)
    common = dict(hidden=hidden, steps=steps, lr=lr, every=every, seed=seed)
    none = train("none", data, decay=0.0, target=None, **common)
    target = target_fraction * none.final_norm
    fixed = train("fixed", data, decay=decay, target=None, **common)
    controlled = train("controlled", data, decay=decay, target=target, **common)
    return {"none": none, "fixed": fixed, "controlled": controlled, "target": target}


QUICK = dict(stride=5, hidden=8, steps=200)


def plot(res: dict, every: int, path: str | None = None) -> Figure:
    """Mean channel norm and decay of the LSTM weights over training, per run."""
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax_n, ax_d = fig.subplots(1, 2)
    target = res["target"]
    for key, color in (("none", "0.5"), ("fixed", "tab:orange"), ("controlled", "tab:blue")):
        r = res[key]
        steps = [every * (i + 1) for i in range(len(r.norms))]
        ax_n.plot(steps, r.norms, color=color, label=r.label)
        if key != "none":
            ax_d.plot(steps, r.decays, color=color, label=r.label)
    ax_n.axhline(target, color="k", ls="--", lw=1, label="target")
    ax_n.axhspan(0.9 * target, 1.1 * target, color="k", alpha=0.08, label="target ±10%")
    ax_n.set(xlabel="step", ylabel="mean channel L2 norm", title="LSTM kernel+recurrent norm")
    ax_d.set(xlabel="step", ylabel="weight_decay", yscale="log", title="decay of the LSTM group")
    ax_n.legend(fontsize=8)
    ax_d.legend(fontsize=8)
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced run (the test's settings)")
    parser.add_argument("--plot", metavar="PNG", help="save a figure of norms and decays")
    args = parser.parse_args()
    kw = QUICK if args.quick else {}
    res = run_experiment(**kw)
    target = res["target"]
    print(f"target mean channel norm of the LSTM weights: {target:.3f}")
    print(f"{'run':<11} {'final norm':>10} {'vs target':>10} {'final decay':>12} {'test acc':>9}")
    for key in ("none", "fixed", "controlled"):
        r = res[key]
        decay = r.decays[-1] if r.decays else 0.0
        print(f"{r.label:<11} {r.final_norm:>10.3f} {r.final_norm / target - 1:>+10.1%} {decay:>12.4g} {r.test_acc:>9.3f}")
    if args.plot:
        plot(res, every=10, path=args.plot)
        print(f"figure: {args.plot}")


if __name__ == "__main__":
    main()
