"""A language model's defaults where a classifier's would cost it more than its training: the
health checks' ``tracking.inspect_steps`` (every step's outputs span the vocabulary)."""

from __future__ import annotations

from rnnlab.config import LM_INSPECT_STEPS, dump_config, parse_config, template_for

LM = '[task]\nkind = "language_model"\n[data]\ndataset = "python-docs"\n'


def test_a_language_model_without_tracking_inspects_the_templates_steps():
    assert parse_config(LM).tracking.inspect_steps == LM_INSPECT_STEPS == 400
    assert parse_config(LM + "[tracking]\nhealth = true\n").tracking.inspect_steps == 400
    assert parse_config(template_for("language_model")).tracking.inspect_steps == 400


def test_a_given_inspect_steps_and_other_tasks_keep_theirs():
    assert parse_config(LM + "[tracking]\ninspect_steps = 50\n").tracking.inspect_steps == 50
    assert parse_config('[data]\ndataset = "UnitTest"\n').tracking.inspect_steps == 4096
    forecaster = parse_config('[task]\nkind = "forecasting"\n[data]\ndataset = "Airline"\n')
    assert forecaster.tracking.inspect_steps == 4096


def test_the_record_reads_back_the_same():
    config = parse_config(LM)
    assert parse_config(dump_config(config)) == config == parse_config(dump_config(config), recorded=True)
