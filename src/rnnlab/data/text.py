"""Text for language models: tokens, a vocabulary from the training part, windows of token ids.

A text (a user's UTF-8 file in ``data.path``, or the bundled ``python-docs``: the documentation
topics Python's standard library ships in ``pydoc_data.topics``, about 465 k characters, nothing
copied into this repository) becomes one stream of tokens (``data.tokens``): ``"char"`` (every
character, newlines included) or ``"word"`` (whitespace-separated words, each line that holds
one ended by ``<eos>``: a blank line gives no token, where AWD-LSTM's ``data.py`` gives it an
``<eos>``). The stream is split *contiguously*: the validation and test parts are its tail
blocks, so the model never trains on text that comes after what it is scored on. The
vocabulary comes from the training part only (at most ``data.vocab_size`` tokens, the most
frequent); a token it does not hold becomes ``<unk>`` (id 0) and is counted in each part
(:attr:`TextData.unknown`, recorded in ``summary.json``), never an error, as is a token written
``<unk>`` in the text (Penn Treebank's rare words: the model reads and predicts them as any
``<unk>``; :attr:`TextData.literal` says how many were written so); training warns at its
start when more than 5 % of the training tokens are unknown (a cap so small that that share of
the score is predicting ``<unk>``), and when more than 5 % of the validation or the test tokens
are, over twice the training part's share: with none in training the model never learned to
predict ``<unk>``, else their scores are flattered or raised by it
(:meth:`TextData.unknown_notes`).

Example:
    >>> vocab = Vocabulary.from_tokens(list("abba"))
    >>> vocab.tokens, vocab.encode(list("abc"))[0].tolist(), vocab.encode(list("abc"))[1]
    (('<unk>', 'a', 'b'), [1, 2, 0], 1)
    >>> d = split_text("abcabcabcabc" * 10, DataConfig(dataset="python-docs", val_fraction=0.2, test_fraction=0.1))
    >>> len(d.train), len(d.val), len(d.test), d.vocab.size
    (86, 22, 12, 4)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import typing
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnlab._checks import did_you_mean
from rnnlab.config import DataConfig
from rnnlab.data.bundled import Sequences
from rnnlab.data.folds import Fold
from rnnlab.data.normalize import InputScaling
from rnnlab.errors import DataError

if typing.TYPE_CHECKING:
    from rnnlab.data import DataSplits
    from rnnlab.data.stream import Bounds

#: ``data.tokens`` values.
TOKENS = ("char", "word")
UNK = "<unk>"
EOS = "<eos>"
#: The line ends of Python's text mode (universal newlines), and only those.
_LINE_END = re.compile(r"\r\n|\r|\n")
#: The fraction of unknown tokens in the training, validation or test part over which a run warns
#: (:meth:`TextData.unknown_notes`; a held-out part's only at over twice the training share): on a
#: large text with a capped vocabulary a few percent are usual, and the model learned to predict
#: ``<unk>`` from the training part's.
UNSEEN_UNKNOWN = 0.05
#: How many bits the cost of a held-out ``<unk>`` (-log2 of its training share) must differ from
#: an average training token's (the unigram entropy) for :meth:`TextData.unknown_notes` to
#: say the held-out parts' larger share of ``<unk>`` changes their scores.
UNKNOWN_COST_GAP = 1.0
#: Each part of a split text, in words.
_PART_NAMES = {"train": "training", "val": "validation", "test": "test"}
#: Bundled texts (``data.dataset``), read from what Python installs.
BUNDLED_TEXTS = {
    "python-docs": "Python's documentation topics (pydoc_data.topics, shipped with Python), about 465 k characters",
}


@functools.cache
def bundled_text(name: str) -> str:
    """The text of bundled source ``name``: ``python-docs`` joins Python's documentation topics
    in their name order (the same text for one Python version, whatever the machine).

    >>> len(bundled_text("python-docs")) > 100_000
    True
    """
    if name not in BUNDLED_TEXTS:
        raise DataError(f"data.dataset: expected a bundled text {sorted(BUNDLED_TEXTS)}, got {name!r}"
                        f"{did_you_mean(name, list(BUNDLED_TEXTS))}")
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k] for k in sorted(topics))


def describe_texts() -> list[dict[str, object]]:
    """One row per bundled text, as ``rnnlab datasets`` lists data sets (task ``language_model``:
    one stream of characters, its length; the test block is its tail).

    >>> describe_texts()[0]["name"], describe_texts()[0]["task"]
    ('python-docs', 'language_model')
    """
    return [{"name": name, "task": "language_model", "train": 1, "test": "(tail)", "length": len(bundled_text(name)),
             "channels": 1, "classes": "-", "targets": "next token"} for name in BUNDLED_TEXTS]


def read_text(path: str, key: str = "data.path") -> str:
    """The UTF-8 text of file ``path`` (a byte-order mark dropped; Windows' and old Macs' line
    ends read as ``\\n``, as Python's text mode reads them); a file that is not UTF-8 or holds
    no printable character is a :class:`DataError` naming ``key``.

    >>> read_text("/nonexistent.txt")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (/nonexistent.txt): no such file
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{key} ({path}): no such file") from None
    except IsADirectoryError:
        raise DataError(f"{key} ({path}): expected a text file, got a directory") from None
    if utf16 := _utf16(raw):
        # (decoded as UTF-8, one without a byte-order mark is read as text with a NUL every other character)
        raise DataError(f"{key} ({path}): expected UTF-8 text, got {utf16}; save the file as UTF-8, e.g. "
                        f"iconv -f {utf16.split()[0]} -t UTF-8 {path} > {path}.utf8.txt")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{key} ({path}): expected UTF-8 text, got byte 0x{raw[e.start]:02x} at offset {e.start} "
                        "that UTF-8 cannot decode; save the file as UTF-8") from None
    # (kept, "\r\n" would be two characters, the second always predicted from the first: the
    # same text saved on Windows would score fewer bits per character)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    check_text(text, f"{key} ({path})")
    return text


def _utf16(raw: bytes) -> str:
    """What a file's bytes ``raw`` look like when they are UTF-16 ("" when not): a byte-order
    mark, or (none) a NUL in most odd (little-endian) or even (big-endian) bytes and no other.

    >>> _utf16("ab".encode("utf-16")), _utf16("ab".encode("utf-16-be")), _utf16(b"ab")
    ('UTF-16 text (its byte-order mark says so)', 'UTF-16BE text (no byte-order mark: a NUL every other byte)', '')
    """
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "UTF-16 text (its byte-order mark says so)"
    head = raw[:4096]
    even, odd = head[0::2], head[1::2]
    for order, nul, other in (("LE", odd, even), ("BE", even, odd)):
        if len(nul) >= 1 and nul.count(0) >= 0.9 * len(nul) and not other.count(0):
            return f"UTF-16{order} text (no byte-order mark: a NUL every other byte)"
    return ""


def check_text(text: str, where: str) -> None:
    """A text must hold a printable, non-space character; NUL bytes mean a binary file.

    >>> check_text("", "data.path (a.txt)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (a.txt): the file is empty

    >>> check_text(" \\n\\t", "data.path (a.txt)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (a.txt): expected text with at least one printable character, got 3 character(s) of whitespace or control characters only
    """
    if not text:
        raise DataError(f"{where}: the file is empty")
    if "\x00" in text:
        raise DataError(f"{where}: expected text, got a NUL character at offset {text.index(chr(0))} "
                        "(a binary file?)")
    if not any(c.isprintable() and not c.isspace() for c in text):
        raise DataError(f"{where}: expected text with at least one printable character, got {len(text)} "
                        "character(s) of whitespace or control characters only")


def tokenize(text: str, tokens: str, open_end: bool = False) -> list[str]:
    """``text`` as a list of tokens: its characters (``"char"``), or its whitespace-separated
    words with ``<eos>`` ending each line that holds a word (``"word"``; a blank line, or one of
    whitespace only, gives no token: a run's checkpoint fingerprints its token ids, so another
    rule would refuse to resume every run on a text with blank lines). ``open_end``: the text's
    last line goes on (a prompt to continue), so it ends with ``<eos>`` only when the text ends
    with a line end.
    A line ends at ``\\n``, ``\\r\\n`` or ``\\r``, as Python's text mode reads them: a form feed
    (common in Python source), NEL or U+2028 is whitespace inside a line. A word the text writes
    ``<eos>`` is that token, read as a line end (:attr:`TextData.eos_written` counts them).

    >>> tokenize("to be\\nor", "word"), tokenize("ab\\n", "char")
    (['to', 'be', '<eos>', 'or', '<eos>'], ['a', 'b', '\\n'])
    >>> tokenize("to be\\n\\n  \\nor\\n", "word")
    ['to', 'be', '<eos>', 'or', '<eos>']
    >>> tokenize("to be\\nor", "word", open_end=True), tokenize("to be\\n", "word", open_end=True)
    (['to', 'be', '<eos>', 'or'], ['to', 'be', '<eos>'])
    """
    if tokens == "char":
        return list(text)
    out: list[str] = []
    # (not str.splitlines: it also ends a line at a form feed, \x1c-\x1e, NEL and U+2028/U+2029)
    *closed, last = _LINE_END.split(text)
    for line in closed:
        if words := line.split():
            out += [*words, EOS]
    if words := last.split():  # (no line end after it: closed in a file, open in a prompt)
        out += words if open_end else [*words, EOS]
    return out


@dataclass(frozen=True)
class Vocabulary:
    """The tokens a model knows, ``<unk>`` first (id 0), the others in sorted order.

    >>> v = Vocabulary.from_tokens(["b", "a", "b"])
    >>> v.size, v.decode([2, 1, 0])
    (3, 'ba<unk>')
    """

    tokens: tuple[str, ...]
    joiner: str = ""

    @classmethod
    def from_tokens(cls, tokens: list[str], joiner: str = "", size: int | None = None) -> Vocabulary:
        """The vocabulary of a training part's ``tokens`` (``joiner`` joins decoded tokens: ``""``
        for characters, ``" "`` for words); ``size`` (``data.vocab_size``): at most that many,
        ``<unk>`` included, the most frequent kept (ties in token order).

        >>> Vocabulary.from_tokens("the cat and the dog and the end".split(), " ", size=3).tokens
        ('<unk>', 'and', 'the')
        """
        kinds = sorted(set(tokens) - {UNK})
        if size is not None and len(kinds) >= size:
            counts: dict[str, int] = {}
            for t in tokens:
                counts[t] = counts.get(t, 0) + 1
            kinds = sorted(sorted(kinds, key=lambda t: -counts[t])[: size - 1])  # (a stable sort: ties in order)
        return cls((UNK, *kinds), joiner)

    @functools.cached_property
    def index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens)}

    @property
    def size(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: list[str]) -> tuple[np.ndarray, int]:
        """Token ids (int64) of ``tokens`` and how many read as ``<unk>`` (id 0): those the
        vocabulary lacks, and those written ``<unk>`` (the same token to the model).

        >>> Vocabulary.from_tokens(["a", "b"]).encode(["a", "<unk>", "c"])
        (array([1, 0, 0]), 2)
        """
        get = self.index.get
        ids = np.fromiter((get(t, 0) for t in tokens), dtype=np.int64, count=len(tokens))
        return ids, int(np.count_nonzero(ids == 0))

    def decode(self, ids: list[int] | np.ndarray) -> str:
        """The text of token ``ids`` (words joined by spaces, ``<eos>`` as a line end)."""
        words = [self.tokens[int(i)] for i in ids]
        if self.joiner:
            return self.joiner.join(words).replace(f" {EOS} ", "\n").replace(f" {EOS}", "\n").replace(EOS, "\n")
        return "".join(words)

    def state(self) -> dict[str, Any]:
        """As a checkpoint keeps it (``weights_only=True``): the tokens in id order and the joiner.

        >>> v = Vocabulary.from_tokens(["to", "be"], " ")
        >>> v.state(), Vocabulary.from_state(v.state()) == v
        ({'tokens': ['<unk>', 'be', 'to'], 'joiner': ' '}, True)
        """
        return {"tokens": list(self.tokens), "joiner": self.joiner}

    @classmethod
    def from_state(cls, state: Any) -> Vocabulary:
        """Read :meth:`state` back, checked: anything else is a ValueError saying what was expected.

        >>> Vocabulary.from_state({"tokens": ["a", "b"], "joiner": ""})
        Traceback (most recent call last):
        ...
        ValueError: 'tokens': expected a list of distinct token strings, '<unk>' first, got ['a', 'b']
        """
        if not isinstance(state, dict):
            raise ValueError(f"expected a dict of the tokens and their joiner, got {type(state).__name__}")
        tokens, joiner = state.get("tokens"), state.get("joiner")
        # (<unk> first: id 0 is what encode maps unknown tokens to, and sampling never draws)
        if not (isinstance(tokens, list) and tokens and tokens[0] == UNK and all(isinstance(t, str) for t in tokens)
                and len(set(tokens)) == len(tokens)):
            raise ValueError(f"'tokens': expected a list of distinct token strings, {UNK!r} first, got {tokens!r:.60}")
        if joiner not in ("", " "):
            raise ValueError(f"'joiner': expected '' (characters) or ' ' (words), got {joiner!r:.40}")
        return cls(tuple(tokens), joiner)


@dataclass(frozen=True)
class TextData:
    """A text's token ids split contiguously (train, validation, test blocks), its vocabulary
    (from ``train``), and the unknown tokens counted in each part: ``unknown``, every token read
    as ``<unk>`` (what the model reads and is scored on), of them ``literal`` written ``<unk>``
    in the text itself (the rest, tokens the vocabulary lacks)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray | None
    vocab: Vocabulary
    unknown: dict[str, int]
    frequencies: tuple[int, ...] = ()
    """How often each distinct token of the training part occurs, most frequent first, before
    ``data.vocab_size`` caps the vocabulary (the sizes a warning suggests); ``<unk>`` aside."""
    literal: dict[str, int] = dataclasses.field(default_factory=dict)
    eos_written: int = 0
    """How many words the text itself writes ``<eos>`` (``data.tokens = "word"``): the model reads
    them as the line-end token, as it reads a written ``<unk>`` as its own; :meth:`summary` says so."""

    def lacked(self, split: str) -> int:
        """The tokens of ``split`` read as ``<unk>`` because the vocabulary lacks them (those a
        larger ``data.vocab_size`` would keep), not because the text wrote ``<unk>``.

        >>> d = split_text("a <unk> b a b c\\nq <unk>", DataConfig(dataset="python-docs", tokens="word",
        ...                vocab_size=3, test_fraction=0.0, val_steps=2))
        >>> d.unknown["train"], d.literal["train"], d.lacked("train"), d.unknown["val"], d.lacked("val")
        (4, 1, 3, 2, 1)
        """
        return self.unknown.get(split, 0) - self.literal.get(split, 0)

    def unigram_entropy(self) -> float:
        """The entropy (nats per token) of the training part's token frequencies: the loss of a
        model that ignores context, which a language model's training loss should fall below.

        >>> d = split_text("aab" * 40, DataConfig(dataset="python-docs", val_fraction=0.0, test_fraction=0.0))
        >>> import math
        >>> d.unigram_entropy() == -(2/3*math.log(2/3) + 1/3*math.log(1/3))
        True
        """
        counts = np.bincount(self.train, minlength=self.vocab.size).astype(np.float64)
        p = counts[counts > 0] / counts.sum()
        return float(-(p * np.log(p)).sum())

    def counts(self) -> dict[str, Any]:
        """The vocabulary's size, and the tokens and unknown tokens of each part, as
        ``summary.json`` records them (``text``): ``unknown``, the tokens read as ``<unk>``, of
        them ``literal_unknown`` written ``<unk>`` in the text.

        >>> split_text("abcd" * 5 + "xyz", DataConfig(dataset="python-docs", val_fraction=0.0, test_steps=3)).counts()
        {'vocabulary': 5, 'tokens': {'train': 20, 'val': 0, 'test': 3}, 'unknown': {'train': 0, 'val': 0, 'test': 3}, 'literal_unknown': {'train': 0, 'val': 0, 'test': 0}}
        """
        sizes = {"train": len(self.train), "val": len(self.val), "test": len(self.test) if self.test is not None else 0}
        return {"vocabulary": self.vocab.size, "tokens": sizes, "unknown": {k: self.unknown.get(k, 0) for k in sizes},
                "literal_unknown": {k: self.literal.get(k, 0) for k in sizes}}

    def unknown_line(self) -> str:
        """The unknown tokens of each part, in words ("" when there are none), and of them those
        written ``<unk>`` in the text.

        >>> split_text("abcd" * 5 + "xyz", DataConfig(dataset="python-docs", val_fraction=0.0, test_steps=3)).unknown_line()
        '3 of 3 test tokens unknown, mapped to <unk>'
        >>> split_text("a <unk> b a\\nb <unk> c", DataConfig(dataset="python-docs", tokens="word", test_fraction=0.0,
        ...            val_steps=3)).unknown_line()
        '1 of 6 training tokens (all written <unk> in the text), 2 of 3 validation tokens (1 written <unk> in the text) unknown, mapped to <unk>'
        """
        c = self.counts()

        def written(split: str, n: int) -> str:
            k = c["literal_unknown"][split]
            return "" if not k else f" (all written {UNK} in the text)" if k == n else f" ({k} written {UNK} in the text)"

        parts = [f"{n} of {c['tokens'][split]} {_PART_NAMES[split]} tokens{written(split, n)}"
                 for split, n in c["unknown"].items() if n]
        return ", ".join(parts) + " unknown, mapped to <unk>" if parts else ""

    def unknown_notes(self) -> list[str]:
        """The warnings about ``<unk>``, each one line naming ``data.vocab_size`` (none when there is
        nothing to say), said at a run's start (a property of the data, the test part's too, not a
        choice made on it).

        When more than :data:`UNSEEN_UNKNOWN` of the *training* tokens read as ``<unk>`` (a cap
        far too small), a line gives the share (that share of the tokens scored is ``<unk>``; above
        half, the score mostly measures predicting ``<unk>``) and the sizes that would keep 95 % and
        99 % of the training tokens. A held-out part (validation, test) whose share of ``<unk>`` is
        over :data:`UNSEEN_UNKNOWN` and more than twice the training part's gets a line from
        :meth:`_held_out_note`.

        >>> d = split_text("a b c d e f a b c d a b\\nx y z q", DataConfig(dataset="python-docs", tokens="word",
        ...                test_fraction=0.0, val_steps=5))
        >>> d.unknown_notes()[0][:80]
        'data.vocab_size: 4 of the 5 validation tokens (80%) are not in the vocabulary, w'
        >>> split_text("aaaaaaaabc" * 10, DataConfig(dataset="python-docs", vocab_size=2, test_fraction=0.0,
        ...            val_fraction=0.0)).unknown_notes()[0][:76]
        'data.vocab_size: 20 of the 100 training tokens (20%) read as <unk> (vocabula'
        """
        return [f"data.vocab_size: {note}" for note in (self._capped_note(), self._held_out_note()) if note]

    def unseen_unknown_note(self) -> str:
        """:meth:`unknown_notes` in one string ("" when there is nothing to say), for a caller that
        says them at once; a run warns each on its own line.

        >>> split_text("ab" * 50, DataConfig(dataset="python-docs")).unseen_unknown_note()
        ''
        """
        return " ".join(self.unknown_notes())

    def _held_out_note(self) -> str:
        """What the held-out parts' larger share of ``<unk>`` does to their scores ("" when no part
        holds more than :data:`UNSEEN_UNKNOWN` of its tokens as ``<unk>`` and more than twice the
        training part's share), the validation and the test part alike.

        With no ``<unk>`` in training the model never learned to predict it: each costs
        -log2 p(<unk>) bits, p(<unk>) the little probability left to a token never a target, and
        the line suggests a cap so the rarest training tokens read as ``<unk>``. Otherwise a model
        predicts ``<unk>`` near its training share: each costs about -log2 of that share, said
        against the training part's unigram entropy (an average token by its frequency alone)
        where the two differ by :data:`UNKNOWN_COST_GAP` bits or more: cheaper, the held-out
        scores are flattered (a validation score below the training one is then no sign of
        generalization); dearer, they suffer.
        """
        share = self.unknown.get("train", 0) / len(self.train)
        sizes = {"val": len(self.val), "test": len(self.test) if self.test is not None else 0}
        over = [(split, self.unknown.get(split, 0), n) for split, n in sizes.items()
                if n and self.unknown.get(split, 0) > max(UNSEEN_UNKNOWN, 2 * share) * n]
        if not over:
            return ""
        parts = " and ".join(f"{k} of the {n} {_PART_NAMES[split]} tokens ({k / n:.0%})" for split, k, n in over)
        named = " and ".join(_PART_NAMES[split] for split, _, _ in over)
        kind = "word" if self.vocab.joiner else "character"
        if not share:
            counts = np.bincount(self.train, minlength=self.vocab.size)
            twice = int((counts[1:] >= 2).sum())  # (<unk>, id 0, aside)
            # (no smaller than what keeps all but UNSEEN_UNKNOWN of the training tokens: a smaller
            # cap would draw the warning about a cap far too small, _capped_note)
            least = self._size_keeping(1 - UNSEEN_UNKNOWN)
            size = max(twice + 1, least)
            if size >= self.vocab.size:  # (every token seen twice: the smallest cap still under the 5 %)
                size = least
            why = (f"the {twice} {kind}s seen twice or more, and <unk>" if size == twice + 1
                   else f"the {kind}s of {1 - UNSEEN_UNKNOWN:.0%} of the training tokens, and <unk>")
            if size < self.vocab.size:
                # (what the cap buys: a few rare training tokens as <unk> still make each held-out one dear)
                folded = 1 - sum(self.frequencies[:size - 1]) / len(self.train)
                advice = (f"cap the vocabulary so the rarest training {kind}s read as <unk>, e.g. data.vocab_size = "
                          f"{size} ({why}; each <unk> then costs about {-math.log2(folded):.1f} bits, -log2 "
                          f"{folded * 100:.2g}%), or train on text that holds them")
            else:  # (its rarest tokens alone are over 5 % of a short training part: any cap draws _capped_note)
                advice = (f"no cap helps: any data.vocab_size below {self.vocab.size} reads more than "
                          f"{UNSEEN_UNKNOWN:.0%} of the {len(self.train)} training tokens as <unk>; train on a longer "
                          "text that holds them")
            return (f"{parts} are not in the vocabulary, while every training token is (vocabulary "
                    f"{self.vocab.size}): the model never reads <unk> in training, so each costs -log2 p(<unk>) bits "
                    f"for a p(<unk>) it never learned (often more than the log2 {self.vocab.size} = "
                    f"{math.log2(self.vocab.size):.1f} bits of a uniform guess), and the {named} bits per token "
                    f"suffer; {advice}")
        cost, average = -math.log2(share), self.unigram_entropy() / math.log(2)
        if abs(cost - average) < UNKNOWN_COST_GAP:
            return ""
        flattered = cost < average
        return (f"{parts} read as <unk>, more than twice the training part's {share:.0%}: each <unk> costs about "
                f"{cost:.1f} bits (-log2 {share:.0%}, what a model that learned the training share predicts), "
                f"{'less' if flattered else 'more'} than the {average:.1f} bits of an average training token by its "
                f"frequency alone (the unigram entropy), so the {named} score{'s are' if len(over) > 1 else ' is'} "
                + ("flattered by it" + (": a validation score below the training score is then no sign of "
                                        "generalization" if over[0][0] == "val" else "") if flattered else "raised by it"))

    def _capped_note(self) -> str:
        # (the tokens the cap maps to <unk>: those written <unk> stay <unk> whatever the cap)
        total, unknown = len(self.train), self.lacked("train")
        if not total or unknown <= UNSEEN_UNKNOWN * total:
            return ""
        kind = "word" if self.vocab.joiner else "character"
        written = (f"; besides the {self.literal['train']} written <unk> in the text"
                   if self.literal.get("train") else "")
        share = unknown / total
        # (a share, not "mostly": at 11 % most of what the score measures is still the text)
        measures = ("the score then mostly measures predicting <unk>, not the text" if share > 0.5 else
                    f"that share of the tokens scored is <unk>, not the text's {kind}s")
        return (f"{unknown} of the {total} training tokens ({share:.0%}) read as <unk> "
                f"(vocabulary {self.vocab.size}, <unk> included{written}): {measures}; data.vocab_size = "
                f"{self._size_keeping(0.95)} keeps the {kind}s of 95 % of the training tokens, "
                f"{self._size_keeping(0.99)} those of 99 % (every {kind}: {len(self.frequencies) + 1})")

    def _size_keeping(self, share: float) -> int:
        """The ``data.vocab_size`` (``<unk>`` included) whose most frequent training tokens make up
        ``share`` of the training tokens."""
        kept = np.cumsum(self.frequencies)
        return int(np.searchsorted(kept, share * kept[-1])) + 2 if len(kept) else 2

    def summary(self) -> str:
        """One line: the vocabulary, the unknown tokens of each part, and the words the text
        writes ``<eos>`` (read as line ends).

        >>> split_text("abcd" * 5 + "xyz", DataConfig(dataset="python-docs", val_fraction=0.0, test_steps=3)).summary()
        'text: 20 training tokens (char), vocabulary 5 (<unk> included, from the training part); 3 of 3 test tokens unknown, mapped to <unk>'
        """
        kind = "word" if self.vocab.joiner else "char"
        capped = f", the {self.vocab.size - 1} most frequent: data.vocab_size" if self.lacked("train") else ""
        eos = (f"; {self.eos_written} word(s) written {EOS} in the text, read as line ends (the {EOS} token)"
               if self.eos_written else "")
        return (f"text: {len(self.train)} training tokens ({kind}), vocabulary {self.vocab.size} (<unk> included, "
                f"from the training part{capped}); {self.unknown_line() or 'no unknown tokens'}{eos}")


def split_text(text: str, cfg: DataConfig, fold: Fold | None = None) -> TextData:
    """Tokenize ``text`` (``cfg.tokens``) and split it contiguously as a stream is split
    (:func:`rnnlab.data.stream.split_bounds`): the test block is its tail (``data.test_steps``
    tokens, or ``data.test_fraction`` of them), the validation block the one before it; with
    ``fold``, forward-chaining blocks of what precedes the test block and no test block. The
    vocabulary is the training block's.

    >>> d = split_text("one two three\\nfour", DataConfig(dataset="python-docs", tokens="word", test_fraction=0.0,
    ...                                                   val_fraction=0.0))
    >>> d.vocab.tokens, d.train.tolist()
    (('<unk>', '<eos>', 'four', 'one', 'three', 'two'), [3, 5, 4, 1, 2, 1])
    >>> text = "abcdefghij" * 10  # 100 tokens, 80 before the test block
    >>> [(len(d.train), len(d.val)) for d in (split_text(text, DataConfig(dataset="python-docs"), Fold(3, i, 0))
    ...                                        for i in (0, 1, 2))]
    [(20, 20), (40, 20), (60, 20)]
    """
    from rnnlab.data.stream import split_bounds

    tokens = cfg.tokens or "char"
    stream = tokenize(text, tokens)
    _check_block_steps(cfg, len(stream), tokens, fold)
    b = split_bounds(len(stream), cfg, fold)
    if b.train < 2:
        raise DataError(f"data: the training part holds {b.train} {tokens} token(s) of the text's {len(stream)} (after "
                        "the validation and test blocks); expected at least 2, an empty vocabulary cannot learn "
                        "anything; give a longer text")
    if fold is None:
        _check_blocks(b, cfg, len(stream), tokens)
    distinct = set(stream[:b.train])
    if len(distinct) < 2:
        # (every token of one kind: the next is always known, a model learns nothing, and its bits
        # per token, near 0, and the findings measured against a unigram entropy of 0 mean nothing)
        raise DataError(f"data: the training part's {b.train} {tokens} tokens are all {next(iter(distinct))!r}: "
                        "expected at least 2 distinct tokens, a text of one repeated token leaves nothing to "
                        "predict; give a text with varied content")
    vocab = Vocabulary.from_tokens(stream[:b.train], " " if tokens == "word" else "", cfg.vocab_size)
    parts = {"train": stream[:b.train], "val": stream[b.train:b.val], "test": stream[b.val:b.test]}
    encoded = {split: vocab.encode(tokens) for split, tokens in parts.items()}
    frequencies = tuple(sorted(Counter(t for t in parts["train"] if t != UNK).values(), reverse=True))
    return TextData(encoded["train"][0], encoded["val"][0], encoded["test"][0] if b.test > b.val else None, vocab,
                    {split: n for split, (_, n) in encoded.items()}, frequencies,
                    {split: tokens.count(UNK) for split, tokens in parts.items()},
                    text.split().count(EOS) if tokens == "word" else 0)


def _check_block_steps(cfg: DataConfig, total: int, tokens: str, fold: Fold | None) -> None:
    """A test or validation block given in tokens that leaves the training part too short for a
    window of ``data.bptt`` tokens in each of the ``data.streams`` rows (what :func:`load_text`
    needs): the error names the key(s) that did it and the largest value that leaves room, not
    the text's length or ``data.bptt`` (which the later errors would blame). A text too short
    whatever the blocks is left to those errors."""
    from rnnlab.data.stream import split_bounds

    need = cfg.bptt * cfg.streams + 1  # (the inputs of each row's window, and the last one's target)
    room = (f"the training part's {need} (data.streams x data.bptt + 1: a window of {cfg.bptt} in each of "
            f"{cfg.streams} row(s))")
    if cfg.test_steps is not None and (cfg.val_steps is None or fold is not None):
        # (the validation block as split_bounds sizes it from what precedes the test block; with
        # a fold, forward-chaining blocks of it, the training part checked later on its own)
        rest = cfg.model_copy(update={"test_steps": 0, "val_steps": None})

        def fits(before: int) -> bool:
            if fold is not None:
                return before >= need
            b = split_bounds(before, rest, None)
            return b.train >= need and (b.val > b.train or cfg.val_fraction == 0)

        if not fits(total - cfg.test_steps):
            least = next((n for n in range(need, total + 1) if fits(n)), None)
            if least is not None:
                val = (f" and a validation block of data.val_fraction = {cfg.val_fraction:g} of what precedes the test "
                       "block" if fold is None and cfg.val_fraction else "")
                raise DataError(f"data.test_steps: expected at most {total - least} {tokens} tokens (the text's "
                                f"{total} less {room}{val}), got {cfg.test_steps}")
    if fold is None and cfg.val_steps is not None:
        before = split_bounds(total, cfg, None).val
        if before - cfg.val_steps < need:
            where = f"the {before} before the test block" if before < total else f"the text's {total}"
            if before - need >= 1:
                raise DataError(f"data.val_steps: expected at most {before - need} {tokens} tokens ({where} less "
                                f"{room}), got {cfg.val_steps}")
            if cfg.test_steps is not None and total - need >= 1:
                raise DataError(f"data.val_steps, data.test_steps: expected data.val_steps + data.test_steps <= "
                                f"{total - need} {tokens} tokens (the text's {total} less {room}), got "
                                f"{cfg.val_steps} + {cfg.test_steps}")


def _check_blocks(b: Bounds, cfg: DataConfig, total: int, tokens: str) -> None:
    """A test or validation block asked for by a fraction > 0 that holds no token (the fraction
    rounds to 0 on a short text): the run would end without its figure, and nothing would say
    why. (A block given in steps holds them: split_bounds cuts them before the training part.)"""
    for block, size, steps, key, of in (("test", b.test - b.val, cfg.test_steps, "test_fraction", total),
                                        ("validation", b.val - b.train, cfg.val_steps, "val_fraction", b.val)):
        fraction = getattr(cfg, key)
        if size > 0 or steps is not None or fraction == 0:
            continue
        # (the validation fraction is of what precedes the test block, as split_bounds takes it)
        raise DataError(f"data.{key}: the {block} block of the text's {total} {tokens} token(s) would be empty "
                        f"(data.{key} = {fraction:g} of {of} rounds to 0 tokens); expected at least 1 token in it: "
                        f"give a longer text, or set data.{key} = 0 for no {block} figure")


def evaluated_block(before: np.ndarray, block: np.ndarray, warm_up: int, vocab: list[str]) -> Sequences:
    """One row that scores the next-token predictions of ``block``'s tokens: the model first
    reads up to ``warm_up`` tokens of ``before`` (the text preceding the block; not scored, their
    targets -100), as the state carried from the training part would hold them.

    >>> s = evaluated_block(np.array([1, 2, 3]), np.array([4, 5]), 2, [])
    >>> s.X[0, :, 0].tolist(), s.y.tolist()
    ([2.0, 3.0, 4.0], [[-100, 4, 5]])
    """
    if len(block) == 0:
        return Sequences(np.zeros((0, 1, 1), np.float32), np.zeros((0, 1), np.int64), np.zeros(0, np.int64), vocab)
    context = before[max(len(before) - warm_up, 0):]
    if len(context) == 0:  # nothing before: the block's first token is the first input
        context, block = block[:1], block[1:]
    ids = np.concatenate([context, block])
    y = np.concatenate([np.full(len(context) - 1, -100), block]).astype(np.int64)
    return Sequences(ids[:-1].astype(np.float32)[None, :, None], y[None], np.array([len(y)]), vocab)


def token_count(cfg: DataConfig) -> int:
    """How many tokens the text of ``cfg`` holds (``data.tokens``).

    >>> token_count(DataConfig(dataset="python-docs")) > 400_000
    True
    """
    text = bundled_text(cfg.dataset) if cfg.dataset is not None else read_text(str(cfg.path))
    return len(tokenize(text, cfg.tokens or "char"))


def load_text(cfg: DataConfig, fold: Fold | None = None) -> DataSplits:
    """A language model's :class:`~rnnlab.data.DataSplits`: the text read (``data.path``, UTF-8,
    or the bundled ``data.dataset``), split contiguously (:func:`split_text`); the training part
    as token ids cut into ``data.streams`` rows (:func:`rnnlab.data.stream.batchify`) that the
    trainer reads in windows of ``data.bptt`` tokens, each row's state carried from a window to
    the next; the validation and test blocks each one row warmed up on the ``data.bptt`` tokens
    before it (:func:`evaluated_block`). Token ids are not scaled (they index the embedding);
    the vocabulary, ``<unk>`` first, is ``classes``.

    >>> from rnnlab.config import parse_config
    >>> c = parse_config('[task]\\nkind = "language_model"\\n[data]\\ndataset = "python-docs"\\nbptt = 50\\nstreams = 4')
    >>> d = load_text(c.data)
    >>> d.train.X.shape[0], d.val.X.shape[0], d.classes[0], d.train.y.dtype
    (4, 1, '<unk>', dtype('int64'))
    """
    from rnnlab.data import DataSplits
    from rnnlab.data.stream import batchify, warn_once

    text = bundled_text(cfg.dataset) if cfg.dataset is not None else read_text(str(cfg.path))
    parts = split_text(text, cfg, fold)
    for note in parts.unknown_notes():
        warn_once(note)
    steps = len(parts.train) - 1  # inputs with a next token
    # (both messages count the same way: the training part's tokens, and of them the inputs a window reads)
    holds = f"the training part holds {len(parts.train)} tokens, {steps} of them inputs with a next token"
    if steps < cfg.bptt:
        raise DataError(f"data.bptt: {holds}, fewer than one window; expected data.bptt <= {max(steps, 1)}, "
                        f"got {cfg.bptt}")
    if steps // cfg.streams < cfg.bptt:
        raise DataError(f"data.streams: {holds}, too few for {cfg.streams} rows of at least data.bptt = {cfg.bptt}; "
                        f"expected data.streams <= {steps // cfg.bptt}, got {cfg.streams}")
    vocab = list(parts.vocab.tokens)
    ids = parts.train[:, None].astype(np.float32)
    X, y = batchify([(ids[:-1], ids[1:])], cfg.streams)
    train = Sequences(X, y[..., 0].astype(np.int64), np.full(len(X), X.shape[1], dtype=np.int64), vocab)
    before_val = parts.train
    val = evaluated_block(before_val, parts.val, cfg.bptt, vocab)
    test = None
    if parts.test is not None and fold is None:
        test = evaluated_block(np.concatenate([parts.train, parts.val]), parts.test, cfg.bptt, vocab)
    inputs = InputScaling.fit("none", False, X[:1], train.lengths[:1])
    return DataSplits(cfg.dataset if cfg.dataset is not None else str(cfg.path), train, val, test, vocab,
                      inputs.stats, inputs, text=parts)
