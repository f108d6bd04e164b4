"""Text for language models: tokens, a vocabulary from the training part, windows of token ids.

A text (a user's UTF-8 file in ``data.path``, or the bundled ``python-docs``: the documentation
topics Python's standard library ships in ``pydoc_data.topics``, about 465 k characters, nothing
copied into this repository) becomes one stream of tokens (``data.tokens``): ``"char"`` (every
character, newlines included) or ``"word"`` (whitespace-separated words, each line ended by
``<eos>``). The stream is split *contiguously*: the validation and test parts are its tail
blocks, so the model never trains on text that comes after what it is scored on. The
vocabulary comes from the training part only; a token of the validation or test part that the
training part never holds becomes ``<unk>`` (id 0) and is counted (:attr:`TextData.unknown`),
never an error.

Example:
    >>> vocab = Vocabulary.from_tokens(list("abba"))
    >>> vocab.tokens, vocab.encode(list("abc"))[0].tolist(), vocab.encode(list("abc"))[1]
    (('<unk>', 'a', 'b'), [1, 2, 0], 1)
    >>> d = split_text("abcabcabcabc" * 10, "char", val_fraction=0.2, test_fraction=0.1)
    >>> len(d.train), len(d.val), len(d.test), d.vocab.size
    (86, 22, 12, 4)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from rnnlab._checks import did_you_mean
from rnnlab.data.folds import Fold
from rnnlab.errors import DataError

#: ``data.tokens`` values.
TOKENS = ("char", "word")
UNK = "<unk>"
EOS = "<eos>"
#: The part of a text held out as its test block when no ``data.test_path`` is given.
TEST_FRACTION = 0.1

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


def read_text(path: str, key: str = "data.path") -> str:
    """The UTF-8 text of file ``path`` (a byte-order mark dropped); a file that is not UTF-8 or
    holds no printable character is a :class:`DataError` naming ``key``.

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
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{key} ({path}): expected UTF-8 text, got byte 0x{raw[e.start]:02x} at offset {e.start} "
                        "that UTF-8 cannot decode; save the file as UTF-8") from None
    check_text(text, f"{key} ({path})")
    return text


def check_text(text: str, where: str) -> None:
    """A text must hold a printable, non-space character; NUL bytes mean a binary file.

    >>> check_text(" \\n\\t", "data.path (a.txt)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (a.txt): expected text with at least one printable character, got 3 character(s) of whitespace or control characters only
    """
    if "\x00" in text:
        raise DataError(f"{where}: expected text, got a NUL character at offset {text.index(chr(0))} "
                        "(a binary file?)")
    if not any(c.isprintable() and not c.isspace() for c in text):
        raise DataError(f"{where}: expected text with at least one printable character, got {len(text)} "
                        "character(s) of whitespace or control characters only")


def tokenize(text: str, tokens: str) -> list[str]:
    """``text`` as a list of tokens: its characters (``"char"``), or its whitespace-separated
    words with ``<eos>`` ending each line (``"word"``).

    >>> tokenize("to be\\nor", "word"), tokenize("ab\\n", "char")
    (['to', 'be', '<eos>', 'or', '<eos>'], ['a', 'b', '\\n'])
    """
    if tokens == "char":
        return list(text)
    out: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if words:
            out += words
            out.append(EOS)
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
    def from_tokens(cls, tokens: list[str], joiner: str = "") -> Vocabulary:
        """The vocabulary of a training part's ``tokens`` (``joiner`` joins decoded tokens: ``""``
        for characters, ``" "`` for words)."""
        return cls((UNK, *sorted(set(tokens) - {UNK})), joiner)

    @functools.cached_property
    def index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens)}

    @property
    def size(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: list[str]) -> tuple[np.ndarray, int]:
        """Token ids (int64) of ``tokens`` and how many were unknown (mapped to ``<unk>``, id 0)."""
        get = self.index.get
        ids = np.fromiter((get(t, 0) for t in tokens), dtype=np.int64, count=len(tokens))
        return ids, int(np.count_nonzero(ids == 0)) - tokens.count(UNK)

    def decode(self, ids: list[int] | np.ndarray) -> str:
        """The text of token ``ids`` (words joined by spaces, ``<eos>`` as a line end)."""
        words = [self.tokens[int(i)] for i in ids]
        if self.joiner:
            return self.joiner.join(words).replace(f" {EOS} ", "\n").replace(f" {EOS}", "\n").replace(EOS, "\n")
        return "".join(words)


@dataclass(frozen=True)
class TextData:
    """A text's token ids split contiguously (train, validation, test blocks), its vocabulary
    (from ``train``), and the unknown tokens counted in each part."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray | None
    vocab: Vocabulary
    unknown: dict[str, int]

    def unigram_entropy(self) -> float:
        """The entropy (nats per token) of the training part's token frequencies: the loss of a
        model that ignores context, which a language model's training loss should fall below.

        >>> split_text("aab" * 40, "char", 0.0, 0.0).unigram_entropy() == -(2/3*math.log(2/3) + 1/3*math.log(1/3))
        True
        """
        counts = np.bincount(self.train, minlength=self.vocab.size).astype(np.float64)
        p = counts[counts > 0] / counts.sum()
        return float(-(p * np.log(p)).sum())

    def summary(self) -> str:
        """One line: the vocabulary and the unknown tokens of each part.

        >>> split_text("abcd" * 5 + "xyz", "char", 0.0, 0.15).summary()
        'text: 20 training tokens (char), vocabulary 5 (<unk> included, from the training part); 3 of 3 test tokens unknown, mapped to <unk>'
        """
        kind = "word" if self.vocab.joiner else "char"
        parts = [f"{n} of {len(getattr(self, split))} {'validation' if split == 'val' else split} tokens"
                 for split, n in self.unknown.items() if n]
        unknown = "; " + ", ".join(parts) + " unknown, mapped to <unk>" if parts else "; no unknown tokens"
        return (f"text: {len(self.train)} training tokens ({kind}), vocabulary {self.vocab.size} (<unk> included, "
                f"from the training part){unknown}")


def split_text(text: str, tokens: str, val_fraction: float, test_fraction: float = TEST_FRACTION,
               test_text: str | None = None, fold: Fold | None = None) -> TextData:
    """Tokenize ``text`` and split it contiguously: the test block is its last ``test_fraction``
    of tokens (or ``test_text``, a separate file, when given), the validation block the last
    ``val_fraction`` of what remains; the vocabulary is the training block's.

    With ``fold`` (a search's or the recipe's scoring), there is no test block and the
    validation block follows the training block: a hold-out of the last ``fold.holdout`` of the
    text before the test block (``k == 1``), or forward-chaining blocks: that text cut into
    ``k + 1`` equal blocks, fold ``i`` training on the first ``i + 1`` and validated on the next.

    >>> text = "abcdefghij" * 10  # 100 tokens, 90 before the test block
    >>> [(len(d.train), len(d.val), d.test) for d in (split_text(text, "char", 0.0, fold=Fold(2, i, 0)) for i in (0, 1))]
    [(30, 30, None), (60, 30, None)]

    >>> d = split_text("one two three\\nfour", "word", 0.0, 0.0)
    >>> d.vocab.tokens, d.train.tolist()
    (('<unk>', '<eos>', 'four', 'one', 'three', 'two'), [3, 5, 4, 1, 2, 1])
    """
    stream = tokenize(text, tokens)
    n = len(stream)
    n_test = int(round(test_fraction * n)) if test_text is None else 0
    before_test = n - n_test
    if fold is not None and fold.k > 1:
        block = before_test // (fold.k + 1)
        n_train, n_val = block * (fold.index + 1), block
    else:
        n_val = int(round((fold.holdout if fold is not None else val_fraction) * before_test))
        n_train = before_test - n_val
    if n_train < 2:
        raise DataError(f"data: the training part holds {max(n_train, 0)} {tokens} token(s) of the text's {n} "
                        f"(after the validation and test blocks); expected at least 2, an empty vocabulary cannot "
                        "learn anything; give a longer text")
    vocab = Vocabulary.from_tokens(stream[:n_train], " " if tokens == "word" else "")
    train, _ = vocab.encode(stream[:n_train])
    val, unknown_val = vocab.encode(stream[n_train:n_train + n_val])
    test_tokens = stream[before_test:] if test_text is None else tokenize(test_text, tokens)
    test, unknown_test = vocab.encode(test_tokens) if test_tokens and fold is None else (None, 0)
    return TextData(train, val, test, vocab, {"val": unknown_val, "test": unknown_test})


def windows(ids: np.ndarray, length: int, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Consecutive windows of ``length`` steps cut from token ``ids``: inputs X [N, length, 1]
    (token ids as float32, exact below 2**24), next-token targets y [N, length] (the last window
    padded, its padding's targets -100, skipped by the loss) and lengths [N].

    >>> X, y, L = windows(np.arange(6), 2, "training part")
    >>> X[..., 0].tolist(), y.tolist(), L.tolist()
    ([[0.0, 1.0], [2.0, 3.0], [4.0, 0.0]], [[1, 2], [3, 4], [5, -100]], [2, 2, 1])
    """
    steps = len(ids) - 1
    if steps < 1:
        raise DataError(f"data: the {where} holds {len(ids)} token(s); expected at least 2 (an input and its "
                        "next token)")
    n = math.ceil(steps / length)
    X = np.zeros((n, length), dtype=np.float32)
    y = np.full((n, length), -100, dtype=np.int64)
    X.reshape(-1)[:steps] = ids[:-1]
    y.reshape(-1)[:steps] = ids[1:]
    lengths = np.full(n, length, dtype=np.int64)
    lengths[-1] = steps - (n - 1) * length
    return X[..., None], y, lengths
