"""The one function that hides database passwords in text before it is printed or written.

A PostgreSQL password can reach rnnlab in every form libpq reads (``--storage``): in a URL's
user information (``postgresql://ann:secret@db/s``, ``postgresql://:secret@db/s``, percent-encoded
or not, holding ``@``), as a URL parameter (``?password=secret``, ``&sslpassword=...``, the
parameter's name itself percent-encoded), or as a keyword/value connection string
(``host=db password='se cret'``). :func:`mask` replaces each with ``***`` wherever it stands in a
text, and every other occurrence of a password it found in that text too (a driver's message
may repeat it). Every printer and writer of a storage URL passes it through :func:`mask`: the
search's lines, its error lines, ``study.json``, ``study.html`` and the CLI's error line.

Example:
    >>> mask("postgresql://ann:secret@db:5432/s")
    'postgresql://ann:***@db:5432/s'
    >>> mask("--storage postgresql://db/s?sslmode=require&password=secret: refused")
    '--storage postgresql://db/s?sslmode=require&password=***: refused'
    >>> mask("host=db password='se cret' dbname=s")
    'host=db password=*** dbname=s'
"""

from __future__ import annotations

import re
from urllib.parse import unquote

HIDDEN = "***"
#: libpq's connection parameters that hold a secret (the client key's passphrase is one too).
SECRET_KEYS = ("password", "sslpassword")

# scheme://, then the user information up to the LAST "@" of the URL (a password may hold "@"
# or "/"; hiding too much is the safe side). A URL ends at whitespace or a quote.
_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s'\"]*:(?P<secret>[^\s'\"]*)@(?=[^@\s'\"]*(?:[\s'\"]|$))")
# ?key=value / &key=value (the key may be percent-encoded: libpq decodes it)
_PARAM = re.compile(r"[?&](?P<key>[^=&\s'\"#]*)=(?P<secret>[^&\s'\"#]*?)(?=$|[&\s'\"#]|:(?:\s|$))")
# keyword = value of a connection string (not a URL parameter, above); a value is a word or single-quoted with \' and \\ escapes
_KEYWORD = re.compile(r"(?<![?&])\b(?:" + "|".join(SECRET_KEYS) + r")\s*=\s*(?P<secret>'(?:[^'\\]|\\.)*'?|[^\s'\"]*?(?=$|[\s'\"]|:(?:\s|$)))")
#: Shorter passwords are hidden where they stand but not searched for elsewhere (too common).
_MIN_REPEATED = 4


def mask(text: str) -> str:
    """``text`` with every database password in it (URL user information, URL parameter or
    keyword/value, see the module docstring) replaced by ``***``, and any other occurrence of
    such a password (as given or percent-decoded) too.

    >>> mask("postgresql://:secret@db/s")
    'postgresql://:***@db/s'
    >>> mask("postgresql://ann:p@ss/w@rd@db/s: could not translate host name 'db'")
    "postgresql://ann:***@db/s: could not translate host name 'db'"
    >>> mask("postgresql://ann:se%40cret@db/s?%70assword=se%40cret: 'se@cret' refused")
    "postgresql://ann:***@db/s?%70assword=***: '***' refused"
    >>> mask("postgresql://ann@db:5432/s")
    'postgresql://ann@db:5432/s'
    """
    found: list[str] = []

    def hide(m: re.Match[str], secret_key: bool = True) -> str:
        if not secret_key:
            return m.group(0)
        secret = m.group("secret")
        if secret.startswith("'"):
            secret = re.sub(r"\\(.)", r"\1", secret.strip("'"))
        found.extend(s for s in (secret, unquote(secret)) if s)
        whole, at = m.group(0), m.start()
        return whole[: m.start("secret") - at] + HIDDEN + whole[m.end("secret") - at:]

    text = _USERINFO.sub(hide, text)
    text = _PARAM.sub(lambda m: hide(m, unquote(m.group("key")) in SECRET_KEYS), text)
    text = _KEYWORD.sub(hide, text)
    for secret in sorted(set(found), key=len, reverse=True):
        if len(secret) >= _MIN_REPEATED and secret != HIDDEN:
            text = text.replace(secret, HIDDEN)
    return text
