"""Where a run computes: the one place that reads ``training.device`` (or ``--device``) and
``training.precision``, checks them and turns them into a torch device and an autocast.

The forms of a device are ``"auto"`` (the current CUDA device when torch sees one, else the CPU),
``"cpu"``, ``"cuda"`` (the current CUDA device) and ``"cuda:N"``. A search's or recipe's worker
processes share the GPUs: with ``"auto"`` and several GPUs, worker ``w`` trains on GPU
``w mod count`` (:func:`worker_device`, round-robin); with ``"cuda"`` or ``"cuda:N"`` every worker
shares that one GPU (K workers on one GPU).

>>> check_device("cuda:1")
'cuda:1'
>>> resolve_device("cpu")
device(type='cpu')
>>> worker_device("auto", worker=3, cuda_count=2)
'cuda:1'
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch

from rnnlab.errors import ConfigError

if TYPE_CHECKING:
    from rnnlab.config import Config

#: The forms ``training.device`` and ``--device`` accept.
DEVICE_FORMS = ("auto", "cpu", "cuda", "cuda:N")
#: The values of ``training.precision``: float32 throughout, or bfloat16 autocast.
PRECISIONS = ("32", "bf16")
# (any index: one torch does not see is refused by resolve_device, naming how many it sees)
_CUDA_N = re.compile(r"cuda:([0-9]+)")


def check_device(value: object, name: str = "training.device") -> str:
    """``value`` when it is one of :data:`DEVICE_FORMS`, else a one-line error naming ``name``.

    >>> check_device("gpu")
    Traceback (most recent call last):
    ...
    rnnlab.errors.ConfigError: training.device: expected "auto", "cpu", "cuda" or "cuda:N" (N = 0, 1, ...), got 'gpu'
    """
    if isinstance(value, str) and (value in ("auto", "cpu", "cuda") or _CUDA_N.fullmatch(value)):
        return value
    raise ConfigError(f'{name}: expected "auto", "cpu", "cuda" or "cuda:N" (N = 0, 1, ...), got {value!r}')


def device_asked_by(flag: str | None, config: str | os.PathLike[str]) -> str:
    """Where a command's device was asked for, as its errors name it: ``--device`` when the flag
    was given, else the config file's key, named with the file as the config's other errors are.

    >>> device_asked_by("cuda", "c.toml"), device_asked_by(None, "c.toml")
    ('--device', "c.toml: 'training.device'")
    """
    return "--device" if flag else f"{config}: 'training.device'"


def require_device(value: str, name: str = "training.device") -> str:
    """``value`` when this machine has the device it names, else a one-line error naming
    ``name`` (``"--device"`` when the flag gave the value): the checks of :func:`resolve_device`,
    without choosing the device, so a process that only starts workers (a search's, a recipe's)
    opens no CUDA context of its own. Every command that computes makes them before it writes
    anything.

    >>> require_device("cpu")
    'cpu'
    """
    value = check_device(value, name)
    if value == "cpu" or (value == "auto" and not torch.cuda.is_available()):
        return value
    if not torch.cuda.is_available():
        why = ("this torch is built without CUDA" if torch.version.cuda is None
               else "torch sees no CUDA device (no GPU, no driver, or CUDA_VISIBLE_DEVICES hides them)")
        raise ConfigError(f'{name}: {value!r} asks for a CUDA GPU, but {why}; use "cpu" or "auto"')
    count = torch.cuda.device_count()
    match = _CUDA_N.fullmatch(value)
    if match and int(match.group(1)) >= count:
        raise ConfigError(f"{name}: {value!r} asks for CUDA device {int(match.group(1))}, but torch sees {count} "
                          f"(cuda:0 to cuda:{count - 1})")
    return value


def resolve_device(value: str, name: str = "training.device") -> torch.device:
    """The torch device ``value`` names on this machine, with its index for CUDA; a one-line
    error naming ``name`` when it asks for CUDA that torch does not see (:func:`require_device`).

    >>> resolve_device("auto").type in ("cpu", "cuda")
    True
    """
    value = require_device(value, name)
    if value == "cpu" or (value == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    match = _CUDA_N.fullmatch(value)
    return torch.device("cuda", int(match.group(1)) if match else torch.cuda.current_device())


def worker_device(value: str, worker: int, cuda_count: int) -> str:
    """The device worker ``worker`` (0, 1, ...) of a search or recipe trains on: with ``"auto"`` and
    several GPUs, ``cuda:{worker mod cuda_count}`` (round-robin, one GPU per worker while there
    are as many GPUs); otherwise ``value`` itself, which the workers share.

    >>> [worker_device("auto", w, 3) for w in range(4)]
    ['cuda:0', 'cuda:1', 'cuda:2', 'cuda:0']
    >>> worker_device("auto", 1, 1), worker_device("cuda:0", 1, 2)
    ('auto', 'cuda:0')
    """
    if value == "auto" and cuda_count > 1:
        return f"cuda:{worker % cuda_count}"
    return value


def use_worker_device(value: str, worker: int) -> None:
    """In worker process ``worker``: make its GPU of :func:`worker_device` the current CUDA
    device, which ``"auto"`` and ``"cuda"`` then mean in this process (nothing without CUDA)."""
    if not torch.cuda.is_available():
        return
    chosen = worker_device(value, worker, torch.cuda.device_count())
    if chosen != value:
        torch.cuda.set_device(torch.device(chosen))


def check_precision(value: object, name: str = "training.precision") -> str:
    """``value`` when it is one of :data:`PRECISIONS`, else a one-line error naming ``name``.

    >>> check_precision("16")
    Traceback (most recent call last):
    ...
    rnnlab.errors.ConfigError: training.precision: expected "32" or "bf16", got '16'
    """
    if value in PRECISIONS:
        return str(value)
    raise ConfigError(f'{name}: expected "32" or "bf16", got {value!r}')


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[object]:
    """The context a forward pass runs in: nothing for ``"32"``, bfloat16 autocast on
    ``device`` for ``"bf16"`` (the layers keep float32 where the math needs it:
    docs/devices.md).

    >>> with autocast(torch.device("cpu"), "bf16"):
    ...     torch.nn.Linear(2, 2)(torch.ones(1, 2)).dtype
    torch.bfloat16
    """
    if check_precision(precision) == "32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def wide_dtype(device: torch.device) -> torch.dtype:
    """The widest float a device computes statistics in: float64, but float32 on Apple's MPS,
    which has no float64.

    >>> wide_dtype(torch.device("cpu"))
    torch.float64
    """
    return torch.float32 if device.type == "mps" else torch.float64


def describe_devices() -> str:
    """The devices torch sees, for ``rnnlab --version``.

    >>> describe_devices().startswith("devices: cpu")
    True
    """
    parts = ["cpu"]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            parts.append(f"cuda:{i} {props.name} ({props.total_memory / 2**30:.0f} GiB)")
    elif torch.version.cuda is None:
        parts.append("no CUDA (torch built without it)")
    else:
        parts.append(f"no CUDA device (torch built with CUDA {torch.version.cuda})")
    return "devices: " + ", ".join(parts)


def describe(device: torch.device) -> dict[str, object]:
    """What a run's records say about the device it ran on.

    >>> describe(torch.device("cpu"))
    {'device': 'cpu'}
    """
    out: dict[str, object] = {"device": str(device)}
    if device.type == "cuda":
        out["device_name"] = torch.cuda.get_device_name(device)
    return out


@contextlib.contextmanager
def cuda_deterministic() -> Iterator[None]:
    """The settings under which CUDA runs repeat bit for bit (cuDNN's deterministic algorithms,
    no benchmark autotuning, torch's deterministic algorithms), restored after; set
    ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` in the environment before the process starts too.

    >>> with cuda_deterministic():
    ...     torch.are_deterministic_algorithms_enabled()
    True
    """
    before = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
              torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[0], before[1]
        torch.use_deterministic_algorithms(before[2], warn_only=before[3])


def with_device(config: Config, value: str | None, name: str = "--device") -> Config:
    """``config`` with ``training.device`` set to ``value`` (checked, named ``name``); None keeps
    the config's.

    >>> from rnnlab.config import parse_config
    >>> with_device(parse_config('[data]\\ndataset = "UnitTest"'), "cpu").training.device
    'cpu'
    """
    if value is None:
        return config
    training = config.training.model_copy(update={"device": check_device(value, name)})
    return config.model_copy(update={"training": training})
