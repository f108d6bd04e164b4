"""Two workers that counted at the same moment finish no more than --trials, and copies of an
earlier trial's parameters stay out of the slice plots and the importances.

Before: a worker counted done + running + waiting trials and, with fewer than --trials, created
one; two workers counting at once both created one, and the study finished --trials + 1 trials
(4 of 3 here). A trial that drew a complete trial's parameters again (``same_params_as``, its
score taken without training) was plotted and fitted once more, weighing that point twice."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import optuna  # noqa: E402
from optuna.distributions import FloatDistribution  # noqa: E402
from tiny_search import tiny_search_toml  # noqa: E402

from rnnlab.cli import main  # noqa: E402
from rnnlab.errors import RnnlabError  # noqa: E402
from rnnlab.plots import style  # noqa: E402
from rnnlab.search.report import _slices, importances, render_study_report  # noqa: E402
from rnnlab.search.storage import open_storage, open_study, state_counts  # noqa: E402
from rnnlab.search.study import (  # noqa: E402
    Progress,
    SearchOptions,
    _objective,
    make_pruner,
    make_sampler,
    prepare,
    run_search,
)

TrialState = optuna.trial.TrialState
SPACE = """startup_trials = 10
[search.space]
"model.zoneout" = { low = 0.0, high = 0.3 }
"training.lr" = { low = 0.001, high = 0.05, log = true }
"""


def worker_study(setup, seed: int) -> optuna.Study:
    """The study as one worker opens it (its own storage client on the journal file)."""
    storage = open_storage(None, setup.out)
    return open_study(storage, setup.study_name, setup.base, make_sampler(setup.search, seed),
                      make_pruner(setup.search, setup.plan, setup.epochs, setup.warmup), setup.direction)


def finished(study: optuna.Study) -> int:
    return sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.get_trials())


def test_two_workers_that_counted_at_once_finish_no_more_than_trials(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text(tiny_search_toml(2, SPACE))
    out = tmp_path / "s"
    run_search(SearchOptions(config=str(config), out=str(out), trials=2, final=False), log=None)
    setup = prepare(SearchOptions(config=str(config), out=str(out), trials=3, final=False))
    # Both workers counted 2 done, 0 running, 0 waiting: fewer than 3, each goes on to create a
    # trial. Worker A's is created first, then worker B's (the race, made deterministic: each
    # step is what _trials_until_done does after its count).
    a, b = worker_study(setup, 1), worker_study(setup, 2)
    lines: list[str] = []
    progress = Progress(setup, lines.append, b)
    trial_a = a.ask()
    b.optimize(_objective(setup), n_trials=1, catch=(RnnlabError,), gc_after_trial=False)
    extra = b.get_trials()[-1]
    assert extra.number == 3 and extra.state == TrialState.FAIL and extra.params == {}, extra
    assert not (out / "trials" / "0003").exists()  # nothing trained
    # Worker A's trial fails after all: it leaves room, and worker B's next trial trains.
    a.tell(trial_a, state=TrialState.FAIL)
    b.optimize(_objective(setup), n_trials=1, catch=(RnnlabError,), gc_after_trial=False)
    progress.update(b)
    trials = b.get_trials()
    assert finished(b) == 3, [(t.number, t.state.name) for t in trials]
    assert trials[-1].number == 4 and trials[-1].state == TrialState.COMPLETE
    # The surplus trial is neither done nor failed: the counts, the lines and the report leave it out.
    counts = state_counts(trials)
    assert (counts["complete"], counts["fail"], counts["interrupted"]) == (3, 1, 0)
    assert [line.split()[1] for line in lines] == ["2", "4"], lines
    assert "[3/3 done, 0 pruned, 1 failed]" in lines[-1]
    html = render_study_report(out, b)
    assert "3 complete, 0 pruned, <a href='#failed-trials'>1 failed</a>" in html and "surplus" not in html
    assert main(["study", str(out)]) == 0
    said = capsys.readouterr().out
    assert "4 trials, 3 complete, 1 failed" in said and "surplus" not in said, said


def study_with_copies() -> tuple[optuna.Study, optuna.Study]:
    """Eight trained trials over x (which matters) and y (which does not), and the same study
    with three copies of the best trial added (its parameters drawn again, its score taken)."""
    dists = {"x": FloatDistribution(0.0, 1.0), "y": FloatDistribution(0.0, 1.0)}
    points = [(0.1, 0.9), (0.2, 0.3), (0.35, 0.6), (0.5, 0.1), (0.6, 0.8), (0.75, 0.4), (0.85, 0.7), (0.95, 0.2)]
    plain, copied = optuna.create_study(direction="maximize"), optuna.create_study(direction="maximize")
    for study in (plain, copied):
        for x, y in points:
            study.add_trial(optuna.create_trial(params={"x": x, "y": y}, distributions=dists, value=x * x + 0.05 * y))
    best = copied.best_trial
    for _ in range(3):
        copied.add_trial(optuna.create_trial(params=best.params, distributions=dists, value=best.value,
                                             user_attrs={"same_params_as": best.number}))
    return plain, copied


def test_copies_are_left_out_of_importances_and_slices(tmp_path):
    plain, copied = study_with_copies()
    assert importances(copied) == importances(plain)
    fig = _slices(copied.get_trials(), "score")
    points = [len(c.get_offsets()) for ax in fig.axes if ax.get_visible() and ax.get_label() != style.COLORBAR
              for c in ax.collections]
    assert points == [8, 8]  # one point per trained trial, in each parameter's panel
    html = render_study_report(tmp_path, copied)
    assert html.count("3 copies of an earlier trial") == 2  # said under the importances and the slices
    assert "3 copies" not in render_study_report(tmp_path, plain)
