"""Config and data files, fourth round: what a new user's run found. Settings a stream task never
reads are refused (not recorded as if used), two sizes of one block are refused, and each error
names the user's task, the key they wrote and the true values (ranges, shapes) of their file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnlab.config import dump_config, parse_config, template_for
from rnnlab.data import load_data
from rnnlab.data.files import load_file
from rnnlab.errors import ConfigError, DataError
from rnnlab.task import task_for

LM = '[task]\nkind = "language_model"\n[data]\ndataset = "python-docs"\n'
FORECAST = '[task]\nkind = "forecasting"\n[data]\ndataset = "Airline"\n'
PER_STEP = '[task]\nper_step = true\n[data]\ndataset = "delayed_copy"\n'


def _config_error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    message = str(info.value)
    assert "\n" not in message
    return message


def _data_error(text: str) -> str:
    config = parse_config(text)
    with pytest.raises(DataError) as info:
        load_data(config.data, seed=0, task=task_for(config))
    message = str(info.value)
    assert "\n" not in message and "np." not in message
    return message


# ------------------------------------------------------------------ 1: what a stream does not read


@pytest.mark.parametrize(("base", "task", "what"), [(LM, "language_model", "the text"),
                                                    (FORECAST, "forecasting", "each series")], ids=["lm", "forecast"])
@pytest.mark.parametrize(("training", "shown", "instead"), [
    ("batch_size = 4", "'training.batch_size' = 4", "as data.streams rows (the batch)"),
    ('shuffle = "batches"', "'training.shuffle' = \"batches\"", "in order"),
    ('shuffle = "none"', "'training.shuffle' = \"none\"", "in order"),
    ("shuffle_within_batch = true", "'training.shuffle_within_batch' = true", "keeps its place in the batch"),
], ids=["batch_size", "shuffle-batches", "shuffle-none", "shuffle_within_batch"])
def test_batch_keys_on_a_stream_are_refused_naming_what_it_reads_instead(base, task, what, training, shown, instead):
    message = _config_error(f"{base}[training]\n{training}\n")
    assert message.startswith(f"config: {shown}: this run's task is {task}, a stream: ")
    assert instead in message and ": remove the key" in message
    if "batch_size" in training:
        assert f"reads {what} as data.streams rows" in message


def test_the_language_model_template_with_a_batch_size_is_refused_and_its_record_holds_no_batch_keys():
    template = template_for("language_model")
    assert "'training.batch_size' = 4" in _config_error(template.replace("[training]\n", "[training]\nbatch_size = 4\n"))
    for text in (template, template_for("forecasting")):
        recorded = dump_config(parse_config(text))
        for key in ("batch_size", "shuffle", "shuffle_within_batch", "stateful_window"):
            assert f"\n{key} = " not in recorded, key  # the run does not read them: its record does not show them
        assert parse_config(recorded) == parse_config(text)
    # A config.toml written before (every key out, at its default) still reads back, as a config or a record.
    old_record = LM + '[training]\nbatch_size = 32\nshuffle = "samples"\nshuffle_within_batch = false\nstateful_window = 0\n'
    assert parse_config(old_record, recorded=True) == parse_config(LM)
    # (as a new config, a key the task does not read is refused, whatever its value)
    assert "'training.batch_size' = 32" in _config_error(old_record)
    # A run that recorded a batch size it never read still loads (report, resume); a new config is refused.
    unread = old_record.replace("batch_size = 32", "batch_size = 4").replace("[data]\n", "[data]\nnormalize = \"none\"\n")
    assert parse_config(unread, recorded=True) == parse_config(LM)
    assert "'data.normalize' = \"none\"" in _config_error(unread)


def test_per_step_on_a_language_model_is_refused_as_on_a_forecaster():
    message = _config_error(LM.replace('kind = "language_model"\n', 'kind = "language_model"\nper_step = true\n'))
    assert message == ("config: 'task.per_step' = true: a language_model task has targets at every step already; "
                       "remove the key")


# ------------------------------------------------------------------ 2: one size per block


@pytest.mark.parametrize(("base", "what"), [(LM, "the text"), (FORECAST, "each series")], ids=["lm", "forecast"])
@pytest.mark.parametrize(("data", "block", "got"), [
    ("test_steps = 30\ntest_fraction = 0.3\n", "test", "got test_steps = 30 and test_fraction = 0.3"),
    ("val_steps = 30\nval_fraction = 0.1\n", "validation", "got val_steps = 30 and val_fraction = 0.1"),
], ids=["test", "val"])
def test_a_block_sized_both_in_steps_and_as_a_fraction_is_refused(base, what, data, block, got):
    message = _config_error(base + data)
    steps, fraction = (line.split(" = ")[0] for line in data.splitlines())
    assert message == (f"config: 'data.{steps}' and 'data.{fraction}' both size the {block} block of {what}: "
                       f"expected one of them, {got}; remove one")
    # either alone is a size; the record holds the one the run reads
    config = parse_config(base + data.splitlines()[0] + "\n")
    assert f"\n{fraction} = " not in dump_config(config) and f"\n{steps} = 30" in dump_config(config)
    assert parse_config(dump_config(config)) == config


# ------------------------------------------------------------------ 4: the user's task and key


@pytest.mark.parametrize(("text", "expected"), [
    (LM + 'target_column = "t"\n', "this run's task is language_model (its targets are the text's next tokens): "
                                    "remove the key"),
    (FORECAST + 'target_column = "t"\n', "this run's task is forecasting (its targets are the series' own next "
                                         "values): remove the key"),
    ('[task]\nkind = "regression"\nper_step = true\n[data]\npath = "d.npz"\ntarget_column = "t"\n',
     "this run's task is per-step-regression (its targets are the y of an .npz file): remove the key"),
])
def test_target_column_names_the_task_it_does_not_apply_to(text, expected):
    message = _config_error(text)
    assert message.startswith("config: 'data.target_column' names regression targets") and expected in message
    assert "classification" not in message


def test_normalize_and_columns_on_a_language_model_say_text_is_not_normalized():
    for value in ('"per_series"', '"none"'):
        message = _config_error(LM + f"normalize = {value}\n")
        assert message == (f"config: 'data.normalize' = {value}: a language model's input is token ids, which are "
                           "not normalized, so the key does not apply; remove it")
    assert "this run's task is language_model" in _config_error(LM + 'columns = ["a"]\n')


@pytest.mark.parametrize(("task", "file"), [('kind = "language_model"', "a UTF-8 text file"),
                                            ('kind = "forecasting"', "a .csv/.npz file of series"),
                                            ("per_step = true", "an .npz file")])
def test_dataset_and_path_together_describe_the_tasks_file(task, file):
    message = _config_error(f'[task]\n{task}\n[data]\ndataset = "x"\npath = "y"\n')
    assert f"or 'data.path' ({file}), got dataset='x' and path='y'" in message


def test_errors_on_a_per_step_config_use_the_tasks_full_name():
    assert "this run's task is per-step-classification: remove the key" in _config_error(PER_STEP + "bptt = 10\n")
    smoothing = _config_error(PER_STEP.replace("per_step", 'kind = "regression"\nper_step').replace(
        "delayed_copy", "adding_problem") + "[training]\nlabel_smoothing = 0.1\n")
    assert "a per-step-regression run (mean squared error of values) has none" in smoothing


def test_head_pooling_on_a_language_model_names_a_language_model():
    message = _config_error(LM + '[model.head]\npooling = "mean"\n')
    assert "language model" in message and "forecaster" not in message


def test_a_single_block_front_end_is_named_by_the_key_the_user_wrote():
    message = _config_error(PER_STEP + "[model.frontend]\nchannels = 4\nstride = 2\n")
    assert message.startswith("config: 'model.frontend.stride' = 2: ") and "blocks[0]" not in message


# ------------------------------------------------------------------ 3 and 5: data files


@pytest.fixture
def labels_file(tmp_path: Path):
    """Writes an .npz of 12 sequences of 30 steps with a label at every step (and ``arrays``)."""
    def write(name: str = "d.npz", **arrays: np.ndarray) -> str:
        rng = np.random.default_rng(0)
        data = {"X": rng.standard_normal((12, 30, 1)), "y": rng.integers(0, 3, (12, 30)), **arrays}
        np.savez(tmp_path / name, **{k: v for k, v in data.items() if v is not None})
        return str(tmp_path / name)
    return write


@pytest.mark.parametrize(("lengths", "got"), [
    (np.array([40] + [30] * 11), "got shape [12], range 30..40, first outside at lengths[0] = 40"),
    (np.full(11, 30), "got shape [11], range 30..30"),
])
def test_per_step_lengths_error_reports_their_true_range(labels_file, lengths, got):
    path = labels_file(lengths=lengths)
    message = _data_error(f'[task]\nper_step = true\n[data]\npath = "{path}"\n')
    assert message == f"data.path ({path}): expected lengths of shape [12] with every length in [1, 30], {got}"


def test_an_npz_array_misspelled_gets_did_you_mean_and_the_key(labels_file):
    path = labels_file(y=None, yy=np.zeros((12, 30), dtype=np.int64))
    for task in ("per_step = true", 'kind = "classification"'):
        message = _data_error(f'[task]\n{task}\n[data]\npath = "{path}"\n')
        assert message == (f"data.path ({path}): unexpected array(s) ['yy']; did you mean 'y'? An .npz holds X, y and "
                           "optionally lengths")
    assert "did you mean 'X'?" in str(pytest.raises(DataError, load_file, labels_file("x.npz", X=None,
                                                                                         x=np.zeros((2, 3)))).value)


def test_fractional_lengths_and_a_missing_test_file_name_their_key(labels_file, tmp_path):
    path = labels_file(lengths=np.array([12.5] + [30.0] * 11))
    assert _data_error(f'[task]\nper_step = true\n[data]\npath = "{path}"\n') == \
        f"data.path ({path}): expected integer lengths, got 12.5 at index 0"
    train, missing = labels_file("t.npz"), str(tmp_path / "nope.npz")
    for task in ("per_step = true", 'kind = "classification"'):
        text = f'[task]\n{task}\n[data]\npath = "{train}"\ntest_path = "{missing}"\n'
        if "classification" in task:  # a label per sequence: the training file has to be one
            text = text.replace(train, labels_file("seq.npz", y=np.arange(12) % 2))
        assert _data_error(text) == f"data.test_path: data file '{missing}' does not exist"


def test_targets_at_every_step_read_one_per_sequence_say_set_per_step(labels_file):
    path = labels_file()
    message = _data_error(f'[data]\npath = "{path}"\n')
    assert message == (f"data.path ({path}): expected y of shape [12] (one label per sequence), got [12, 30] (a label "
                       "at every step: set [task] per_step = true)")
    floats = labels_file("f.npz", y=np.random.default_rng(1).integers(0, 3, (12, 30)).astype(float))
    assert _data_error(f'[data]\npath = "{floats}"\n').endswith("(a label at every step: set [task] per_step = true)")
    values = labels_file("v.npz", y=np.random.default_rng(1).standard_normal((12, 30, 2)))
    assert _data_error(f'[task]\nkind = "regression"\n[data]\npath = "{values}"\n').endswith(
        "got shape [12, 30, 2] (values at every step: set [task] per_step = true)")
