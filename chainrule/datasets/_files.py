"""Data files: integrity checks (SHA-256) and atomic, verified downloads."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chainrule.errors import ChainruleError

__all__ = ["DatasetError", "download_file", "sha256_of", "verify_sha256"]

USER_AGENT = "chainrule-datasets"


class DatasetError(ChainruleError, ValueError):
    """A data file that is missing, truncated, altered (wrong SHA-256) or malformed."""


def sha256_of(path: str | os.PathLike) -> str:
    """The hex SHA-256 of the file at ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: str | os.PathLike, expected: str) -> None:
    """Raise :class:`DatasetError` unless the file at ``path`` has SHA-256 ``expected``."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"data file {path} is missing")
    actual = sha256_of(path)
    if actual != expected.lower():
        raise DatasetError(
            f"data file {path} failed its integrity check (truncated or altered?): "
            f"expected SHA-256 {expected}, got {actual}"
        )


def _open_url(url: str, timeout: float) -> Any:
    """Open ``url`` for reading (a seam the tests replace; there is no network in CI)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    return urllib.request.urlopen(request, timeout=timeout)


def fsync_dir(directory: str | os.PathLike) -> None:
    """Flush a directory entry (a rename) to disk; a no-op where directories cannot be
    opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def download_file(
    urls: Sequence[str],
    dest: str | os.PathLike,
    sha256: str | None,
    advice: str = "",
    timeout: float = 60.0,
) -> None:
    """Download the first of ``urls`` that works to ``dest``, atomically.

    The bytes go to a temporary file next to ``dest``, hashed on the way; only a complete
    copy whose SHA-256 equals ``sha256`` (when given) is fsynced and renamed onto
    ``dest``. A failed or wrong download is deleted and the next mirror tried. If every
    mirror fails, :class:`DatasetError` lists what happened at each, followed by
    ``advice``.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    attempts: list[str] = []
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            h = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out, _open_url(url, timeout) as response:
                for block in iter(lambda response=response: response.read(1 << 20), b""):
                    out.write(block)
                    h.update(block)
                    size += len(block)
                out.flush()
                os.fsync(out.fileno())
            digest = h.hexdigest()
            if sha256 is not None and digest != sha256.lower():
                attempts.append(
                    f"{url}: got {size} bytes with SHA-256 {digest}, expected {sha256} (discarded)"
                )
                tmp.unlink(missing_ok=True)
                continue
            os.replace(tmp, dest)
            fsync_dir(dest.parent)
            return
        except (OSError, http.client.HTTPException, ValueError) as exc:
            attempts.append(f"{url}: {type(exc).__name__}: {exc}")
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise
    tried = "\n  ".join(attempts) if attempts else "(no URLs)"
    raise DatasetError(f"could not download {dest.name}; tried:\n  {tried}\n{advice}".rstrip())
