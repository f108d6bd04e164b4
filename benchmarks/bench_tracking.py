"""Cost of rnnlab.Tracker: weight norms every step, gradient norms every 10 steps.

Model: the example classifier, a 2-layer LSTM (I=32, H=128) with a linear head on the last
output, batch B=64, T=100, Adam. Training steps with and without the tracker alternate one by
one (so machine load hits both alike), in groups of 10 pairs (one gradient step of the tracker
per group). Two estimates of the overhead, both as medians over groups:

* tracker cost: time spent inside ``tracker.step`` over the group / plain training time over the
  group. The tracker runs synchronously between ``backward`` and ``optimizer.step``, so this is
  its cost; it is timed directly and stays accurate on a loaded machine. The verdict uses it.
* end-to-end: tracked time / plain time of the group, minus 1 (a cross-check; on a shared
  machine its noise can exceed the effect).

Target: overhead <= 10%.

    .venv/bin/python benchmarks/bench_tracking.py [--groups 5] [--torch-lstm]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from torch import nn

from rnnlab.tracker import Tracker

B, T, INPUT, H, CLASSES = 64, 100, 32, 128, 5
BLOCK = 10  # grads_every: one block holds one gradient step
TARGET = 0.10


class Classifier(nn.Module):
    def __init__(self, use_torch: bool) -> None:
        super().__init__()
        if use_torch:
            self.lstm = nn.LSTM(INPUT, H, num_layers=2, batch_first=True)
        else:
            import rnnlab

            self.lstm = rnnlab.LSTM(INPUT, H, num_layers=2, batch_first=True)
        self.head = nn.Linear(H, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=5, help="groups of 10 step pairs")
    ap.add_argument("--torch-lstm", action="store_true", help="use torch.nn.LSTM instead of rnnlab.LSTM")
    args = ap.parse_args()
    torch.manual_seed(0)
    model = Classifier(args.torch_lstm)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(B, T, INPUT)
    y = torch.randint(0, CLASSES, (B,))
    loss_fn = nn.CrossEntropyLoss()
    run_dir = tempfile.mkdtemp(prefix="bench_tracking_")
    tracker = Tracker(run_dir, model, weights_every=1, grads_every=BLOCK)

    def train_step(track: bool) -> tuple[float, float]:
        t0 = time.perf_counter()
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        spent = 0.0
        if track:
            s = time.perf_counter()
            tracker.step(loss)
            spent = time.perf_counter() - s
        opt.step()
        return time.perf_counter() - t0, spent

    for track in (False, True):  # warm-up
        train_step(track)
    tracker.truncate_after(-1)
    tracker.step_count = 0
    end_to_end, cost, plain_steps = [], [], []
    for _ in range(args.groups):
        plain = tracked = spent = 0.0
        for j in range(BLOCK):
            for track in ((False, True) if j % 2 == 0 else (True, False)):
                dt, s = train_step(track)
                if track:
                    tracked += dt
                    spent += s
                else:
                    plain += dt
                    plain_steps.append(dt)
        end_to_end.append(tracked / plain - 1.0)
        cost.append(spent / plain)
    tracker.close()
    overhead = statistics.median(cost)
    print(f"model: 2-layer {'nn' if args.torch_lstm else 'rnnlab'}.LSTM I={INPUT} H={H}, B={B} T={T}")
    print(f"median training step: {statistics.median(plain_steps) * 1e3:.1f} ms; {args.groups} groups of {BLOCK} step pairs")
    print(f"tracker cost per group: {', '.join(f'{c:.2%}' for c in cost)}")
    print(f"end-to-end per group:   {', '.join(f'{e:+.2%}' for e in end_to_end)}")
    print(f"tracking overhead (median tracker cost / training time): {overhead:.2%}")
    print(f"end-to-end cross-check (median tracked/plain - 1): {statistics.median(end_to_end):+.2%}")
    print(f"{'PASS' if overhead <= TARGET else 'FAIL'}: target <= {TARGET:.0%}")


if __name__ == "__main__":
    main()
