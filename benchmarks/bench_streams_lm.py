"""Language model benchmark (issue 22): the ``rnnlab init --task language_model`` template
against a plain ``nn.LSTM`` character model of the same width and step budget, in one process.

Both models read the same text (the bundled ``python-docs``: Python's documentation topics),
split the same way (the template's contiguous blocks, vocabulary from the training part), in the
same ``data.streams`` rows and windows of ``data.bptt`` characters with the state carried from
one window to the next, for the same number of optimizer steps. The plain model is written here:
``nn.Embedding`` → ``nn.LSTM`` → ``nn.Linear`` with torch's defaults and no regularization,
trained with the template's optimizer settings (AdamW, the template's learning rate, no weight
decay, the template's gradient clipping) so that what differs is the model and its
regularization. The test block is evaluated once per model at the end, warmed up on the
``data.bptt`` characters before it.

Figures: test bits per character of each, and training tokens per second of each (optimizer
steps only: the template's from its run's ``timing.json`` training phase, which includes its
per-step bookkeeping; the plain model's timed around its loop). Target: the template better by
more than the seeds' spread, at >= 0.8x the plain model's tokens per second.

    .venv/bin/python benchmarks/bench_streams_lm.py                     # seeds 0 1 2, the template's budget
    .venv/bin/python benchmarks/bench_streams_lm.py --seeds 0 --steps 300   # short
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from rnnlab.config import parse_config, template_for  # noqa: E402
from rnnlab.data.text import load_text  # noqa: E402
from rnnlab.train.trainer import train  # noqa: E402


class PlainLSTM(nn.Module):
    """The reference: embedding, one ``nn.LSTM`` layer, a linear decoder; torch's defaults."""

    def __init__(self, vocab: int, width: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, width)
        self.lstm = nn.LSTM(width, width, batch_first=True)
        self.decoder = nn.Linear(width, vocab)

    def forward(self, ids: torch.Tensor, state=None):
        out, state = self.lstm(self.embedding(ids), state)
        return self.decoder(out), state


def plain_run(config, seed: int, steps: int) -> dict[str, float]:
    """Train :class:`PlainLSTM` on the template's rows and windows; test bpc and tokens/s."""
    torch.manual_seed(seed)
    data = load_text(config.data)
    tc, bptt = config.training, config.data.bptt
    X = torch.from_numpy(data.train.X[..., 0]).long()
    Y = torch.from_numpy(data.train.y)
    model = PlainLSTM(len(data.classes), config.model.hidden_size)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=0.0)
    loss_fn = nn.CrossEntropyLoss(ignore_index=-100)
    done, tokens, seconds = 0, 0, 0.0
    while done < steps:
        state = None  # reset at each epoch, as rnnlab does
        for start in range(0, X.shape[1], bptt):
            if done == steps:
                break
            t0 = time.perf_counter()
            x, y = X[:, start:start + bptt], Y[:, start:start + bptt]
            logits, state = model(x, state)
            state = tuple(s.detach() for s in state)
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if tc.clip_norm:
                nn.utils.clip_grad_norm_(model.parameters(), tc.clip_norm)
            opt.step()
            seconds += time.perf_counter() - t0
            tokens += x.numel()
            done += 1
    model.eval()
    with torch.no_grad():
        test = data.test
        logits, _ = model(torch.from_numpy(test.X[..., 0]).long())
        y = torch.from_numpy(test.y)
        ce = float(nn.functional.cross_entropy(logits[y >= 0], y[y >= 0]))
    return {"test_bpc": ce / math.log(2), "tokens_per_s": tokens / seconds, "steps": done}


def template_run(config, seed: int, out: Path) -> dict[str, float]:
    """Train the template as ``rnnlab train`` does; test bpc and training tokens/s."""
    cfg = config.model_copy(update={"training": config.training.model_copy(update={"seed": seed})})
    result = train(cfg, out=out, progress=False, log=None)
    timing = json.loads((out / "timing.json").read_text())
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    tokens = records[-1]["step"] * cfg.data.streams * cfg.data.bptt
    return {"test_bpc": result.test["bpc"], "tokens_per_s": tokens / timing["seconds"]["training"],
            "steps": records[-1]["step"]}


#: ``--profile``: the template's model with its regularizers added one at a time (config edits).
PROFILE_STEPS = {
    "rnnlab, no regularizer": {"model": {"weight_drop": 0.0, "input_dropout": 0.0}, "training": {"ar": 0.0, "tar": 0.0}},
    "+ weight drop 0.2": {"model": {"input_dropout": 0.0}, "training": {"ar": 0.0, "tar": 0.0}},
    "+ input dropout 0.05": {"model": {}, "training": {"ar": 0.0, "tar": 0.0}},
    "+ AR/TAR (the template)": {"model": {}, "training": {}},
}


def profile(config, steps: int, rounds: int) -> None:
    """Where the template's tokens per second go: seconds per optimizer step of the plain model
    and of rnnlab's model with the template's regularizers added one at a time, each in a bare
    loop (forward, loss, backward, clipping, AdamW) on the same windows, timed in interleaved
    rounds in this process (a shared machine slows all alike); then the template through
    ``train`` (its per-step bookkeeping: tracking, tallies, checkpoints), from its timing.json."""
    from rnnlab.regularize.penalties import ActivityRegularizer
    from rnnlab.task import LANGUAGE_MODEL
    from rnnlab.train.model import build_model

    data = load_text(config.data)
    X = torch.from_numpy(data.train.X[..., 0]).long()
    Y = torch.from_numpy(data.train.y)
    bptt, vocab = config.data.bptt, len(data.classes)
    loops = {}

    def loop(model, act):
        opt = torch.optim.AdamW(model.parameters(), lr=config.training.lr, weight_decay=0.0)
        loss_fn = LANGUAGE_MODEL.loss_fn()
        state = {"s": None, "start": 0}

        def step() -> None:
            a = state["start"]
            x, y = X[:, a:a + bptt], Y[:, a:a + bptt]
            state["start"] = (a + bptt) % (X.shape[1] - bptt)
            if isinstance(model, PlainLSTM):
                logits, h = model(x, state["s"])
            else:
                logits, h = model(x[..., None].float(), None, state["s"])
            state["s"] = tuple(t.detach() for t in h)
            loss = loss_fn(logits, y) if not isinstance(model, PlainLSTM) else \
                nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
            if act is not None:
                loss = loss + act.penalty()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.training.clip_norm)
            opt.step()
        return step

    torch.manual_seed(0)
    loops["plain nn.LSTM"] = loop(PlainLSTM(vocab, config.model.hidden_size), None)
    for name, edit in PROFILE_STEPS.items():
        m = config.model.model_copy(update=edit["model"])
        tc = config.training.model_copy(update=edit["training"])
        model = build_model(m, 1, vocab, per_step=True).train()
        act = ActivityRegularizer(model, tc.ar, tc.tar, modules=[model.rnn]) if tc.ar or tc.tar else None
        loops[name] = loop(model, act)
    seconds = {k: [] for k in loops}
    for step in loops.values():
        step()  # warm-up
    for _ in range(rounds):
        for name, step in loops.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            seconds[name].append((time.perf_counter() - t0) / steps)
    base = statistics.median(seconds["plain nn.LSTM"])
    tokens = X.shape[0] * bptt
    for name, s in seconds.items():
        print(f"{name:>26}: {statistics.median(s) * 1e3:7.1f} ms/step  {tokens / statistics.median(s):8,.0f} tokens/s  "
              f"{base / statistics.median(s):.2f}x the plain model's")
    text = config.training.model_copy(update={"steps": 2 * steps})
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config.model_copy(update={"training": text})
        template_run(cfg, 0, Path(tmp) / "t")
        timing = json.loads((Path(tmp) / "t" / "timing.json").read_text())
        records = [json.loads(line) for line in (Path(tmp) / "t" / "metrics.jsonl").read_text().splitlines()]
    per_step = timing["seconds"]["training"] / records[-1]["step"]
    print(f"{'the template through train':>26}: {per_step * 1e3:7.1f} ms/step  (its training phase over "
          f"{records[-1]['step']} steps, measured after the rounds above)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps of both (default: the template's)")
    parser.add_argument("--profile", type=int, nargs=2, metavar=("STEPS", "ROUNDS"),
                        help="instead: seconds per step of the plain model and of the template's parts (see profile)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    text = template_for("language_model")
    if args.steps is not None:
        text = text.replace("steps = 2000 ", f"steps = {args.steps} ", 1)
    config = parse_config(text, "template")
    if args.profile:
        profile(config, *args.profile)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            rnn = template_run(config, seed, Path(tmp) / f"template-{seed}")
            plain = plain_run(config, seed, int(rnn["steps"]))  # the same optimizer steps as the template ran
            rows.append({"seed": seed, "template": rnn, "plain": plain})
            print(json.dumps(rows[-1]), flush=True)
    for who in ("template", "plain"):
        bpc = [r[who]["test_bpc"] for r in rows]
        speed = [r[who]["tokens_per_s"] for r in rows]
        spread = max(bpc) - min(bpc)
        print(f"{who:>9}: test bpc {statistics.mean(bpc):.3f} (spread {spread:.3f} over {len(bpc)} seed(s)), "
              f"{statistics.mean(speed):,.0f} tokens/s")
    gain = statistics.mean(r["plain"]["test_bpc"] - r["template"]["test_bpc"] for r in rows)
    ratio = statistics.mean(r["template"]["tokens_per_s"] / r["plain"]["tokens_per_s"] for r in rows)
    print(f"template better by {gain:.3f} bpc; speed {ratio:.2f}x the plain model's tokens/s")


if __name__ == "__main__":
    main()
