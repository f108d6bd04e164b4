"""Round 290 (helper-294's report): block sizes that leave no room for training, a text's own
<eos> words, UTF-16 without a byte-order mark, and the held-out <unk> note on a short text."""

import pytest

from rnnlab.config import DataConfig
from rnnlab.data.text import read_text, split_text
from rnnlab.errors import DataError

# 3972 characters, 794 of them the default test block: 3178 before it
TEXT = ("Houses sat ran over the park, and the dog ran home.\n" * 80)[:3972]
ROOM = "the training part's 81 (data.streams x data.bptt + 1: a window of 20 in each of 4 row(s))"


def _data(**blocks) -> DataConfig:
    return DataConfig(dataset="python-docs", bptt=20, streams=4, **blocks)


@pytest.mark.parametrize(("blocks", "expected", "fix"), [
    ({"val_steps": 5000}, f"data.val_steps: expected at most 3097 char tokens (the 3178 before the test block less "
                          f"{ROOM}), got 5000", {"val_steps": 3097}),
    ({"test_steps": 3972, "val_fraction": 0.0}, f"data.test_steps: expected at most 3891 char tokens (the text's 3972 "
                                                f"less {ROOM}), got 3972", {"test_steps": 3891, "val_fraction": 0.0}),
    # (the default validation fraction: test_steps is what leaves no room, not data.val_fraction)
    ({"test_steps": 3970}, f"data.test_steps: expected at most 3871 char tokens (the text's 3972 less {ROOM} and a "
                           "validation block of data.val_fraction = 0.2 of what precedes the test block), got 3970",
     {"test_steps": 3871}),
    ({"val_steps": 3000, "test_steps": 3900}, "data.val_steps, data.test_steps: expected data.val_steps + "
                                              f"data.test_steps <= 3891 char tokens (the text's 3972 less {ROOM}), got "
                                              "3000 + 3900", {"val_steps": 1, "test_steps": 3890}),
])
def test_a_block_that_leaves_no_room_names_its_key_and_a_bound_that_works(blocks, expected, fix):
    with pytest.raises(DataError) as e:
        split_text(TEXT, _data(**blocks))
    assert str(e.value) == expected
    with pytest.raises(DataError):  # one past the bound still fails
        split_text(TEXT, _data(**{k: v + 1 if k.endswith("_steps") else v for k, v in fix.items()}))
    d = split_text(TEXT, _data(**fix))  # the bound itself trains: a window in each row
    assert len(d.train) == 81


def test_a_word_eos_written_in_the_text_is_said_to_read_as_a_line_end():
    d = split_text("the dog <eos> ran\nthe cat <eos> sat\n" * 4, DataConfig(dataset="python-docs", tokens="word",
                                                                            val_fraction=0.0, test_fraction=0.0))
    assert d.eos_written == 8
    assert d.summary().endswith("; 8 word(s) written <eos> in the text, read as line ends (the <eos> token)")


def test_utf16_without_a_byte_order_mark_is_named_with_a_fix(tmp_path):
    path = tmp_path / "le.txt"
    path.write_bytes("Houses sat ran over the park\n".encode("utf-16-le"))
    with pytest.raises(DataError) as e:
        read_text(str(path))
    assert str(e.value) == (f"data.path ({path}): expected UTF-8 text, got UTF-16LE text (no byte-order mark: a NUL "
                            f"every other byte); save the file as UTF-8, e.g. iconv -f UTF-16LE -t UTF-8 {path} > "
                            f"{path}.utf8.txt")


def test_the_held_out_unk_note_on_a_short_text_gives_no_empty_cap():
    d = split_text("the cat sat\n", DataConfig(dataset="python-docs", bptt=7))
    (note,) = d.unknown_notes()
    assert "<unk>, below 7" not in note  # (the old line: a cap with no value)
    assert note.endswith("suffer; no cap helps: any data.vocab_size below 7 reads more than 5% of the 8 training "
                         "tokens as <unk>; train on a longer text that holds them")
