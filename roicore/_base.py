"""Machinery shared by imaging and segmentation extractors.

:class:`BaseExtractor` gives every extractor the same lifecycle (context
manager, idempotent :meth:`~BaseExtractor.close`), pickling by constructor
arguments, and the time API. The helpers :func:`_resolve_range` and
:func:`_normalize_indices` hold the one definition of a valid sample range
and a valid index array, so readers never validate bounds themselves.

This module imports numpy only.
"""

from __future__ import annotations

import abc
import functools
import operator
import os
from typing import Any

import numpy as np

from roicore.errors import UnknownSamplingFrequencyError

__all__ = ["BaseExtractor"]


def _reconstruct(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Rebuild an extractor from its constructor arguments (the pickle path)."""
    return cls(*args, **kwargs)


def _as_int(value: Any, name: str) -> int:
    """Return ``value`` as a Python int; bools and non-integers raise TypeError."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, not a bool ({value!r})")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an integer, not {type(value).__name__} ({value!r})"
        ) from None


def _resolve_range(
    start: Any, end: Any, n: int, what: str = "sample"
) -> tuple[int, int]:
    """Validate a half-open range ``[start, end)`` over ``n`` items.

    Parameters
    ----------
    start, end : int or None
        Python or numpy integers; None means 0 and ``n`` respectively.
    n : int
        Number of items.
    what : str
        Used to name the arguments in messages (``start_<what>``, ``end_<what>``).

    Returns
    -------
    tuple of int
        ``(start, end)`` with ``0 <= start <= end <= n``.

    Raises
    ------
    TypeError
        A bound is not an integer (floats and bools included).
    IndexError
        The bounds are out of range; negative bounds are not wrapped.
    """
    start_name, end_name = f"start_{what}", f"end_{what}"
    start_i = 0 if start is None else _as_int(start, start_name)
    end_i = n if end is None else _as_int(end, end_name)
    if not 0 <= start_i <= end_i <= n:
        raise IndexError(
            f"{start_name}={start_i} and {end_name}={end_i} are out of range: "
            f"need 0 <= {start_name} <= {end_name} <= {n}"
        )
    return start_i, end_i


def _normalize_indices(indices: Any, n: int, what: str = "sample") -> np.ndarray:
    """Validate integer indices into ``n`` items and wrap negative ones.

    Parameters
    ----------
    indices : int or array_like of int
        Any shape, including 0-d; any integer dtype. An empty list is allowed.
    n : int
        Number of items.
    what : str
        Names the indices in messages.

    Returns
    -------
    numpy.ndarray
        A new ``intp`` array of the same shape with values in ``[0, n)``.

    Raises
    ------
    TypeError
        The indices are booleans, floats or otherwise not integers.
    IndexError
        An index is outside ``[-n, n)``.
    """
    if isinstance(indices, (bool, np.bool_)):
        raise TypeError(f"{what} indices must be integers, not bool")
    arr = indices if isinstance(indices, np.ndarray) else np.asarray(indices)
    if arr.dtype == np.bool_:
        raise TypeError(f"{what} indices must be integers, not booleans")
    if arr.dtype.kind not in "iu":
        # np.asarray([]) is float64; numpy accepts an empty list as an index
        if arr.size == 0 and not isinstance(indices, np.ndarray):
            arr = arr.astype(np.intp)
        else:
            raise TypeError(f"{what} indices must be integers, not {arr.dtype}")
    if arr.size:
        low, high = arr.min(), arr.max()
        if (arr.dtype.kind == "i" and low < -n) or high >= n:
            bad = low if arr.dtype.kind == "i" and low < -n else high
            raise IndexError(
                f"{what} index {int(bad)} is out of range: need -{n} <= index < {n}"
            )
    out = arr.astype(np.intp, copy=True)
    if out.ndim == 0:
        if out < 0:
            out += n
    else:
        out[out < 0] += n
    return out


def _check_finite_positive(value: Any, name: str) -> float:
    """Return ``value`` as a float that is finite and > 0, else raise ValueError."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a finite number > 0, not {value!r}")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number > 0, not {value!r}") from None
    if not np.isfinite(result) or result <= 0:
        raise ValueError(f"{name} must be a finite number > 0, not {value!r}")
    return result


def _owned(array: np.ndarray) -> np.ndarray:
    """Return ``array`` if the caller may keep it, else a plain copy.

    An array that owns its memory and is not a memmap was made for this call
    (by a hook's slicing or fancy indexing); a view may alias a reader's
    internal buffer or a file mapping, so it is copied.
    """
    if array.flags.owndata and type(array) is np.ndarray:
        return array
    return np.array(array, copy=True, subok=False, order="C")  # C order even for a transposed view


def _read_only(array: np.ndarray) -> np.ndarray:
    """A read-only, C-contiguous plain ndarray of ``array``'s values, sharing its memory when possible.

    An array made for the call (see :func:`_owned`) is locked and handed over
    as is; only a view of someone else's memory gets a locked view of its own.
    """
    if type(array) is np.ndarray and array.flags.owndata and array.flags.c_contiguous:
        array.flags.writeable = False
        return array
    view = np.ascontiguousarray(array).view(np.ndarray)
    view.flags.writeable = False
    return view


def _rate_getter(getter: Any) -> Any:
    """Wrap a reader's ``get_sampling_frequency``: the override first, then a float or None."""

    @functools.wraps(getter)
    def get_sampling_frequency(self: BaseExtractor) -> float | None:
        override = self.__dict__.get("_fs_override")
        if override is not None:
            return override
        value = getter(self)
        return None if value is None else float(value)

    get_sampling_frequency._roicore_rate_getter = True  # type: ignore[attr-defined]
    return get_sampling_frequency


class BaseExtractor(abc.ABC):
    """Lifecycle, pickling and the time API shared by every extractor.

    Subclasses need ``get_num_samples()`` and ``get_sampling_frequency()``
    (which returns None when the source stores no rate) and may override ``get_native_timestamps(start_sample, end_sample)`` and
    the ``_close()`` hook.

    Pickling re-runs the constructor with the arguments it was first called
    with (captured by ``__new__``), then restores the small state that was
    set afterwards (times from :meth:`set_times`, ``source``). A file-backed
    reader therefore pickles as its path and options, never its data, and
    opens the file again when unpickled.

    Attributes
    ----------
    source : object or None
        Set by :func:`roicore.open` to a record of the plugin, its version, the
        reader id and the detection rule that produced this extractor.
    derived_from : str, optional
        Set on computed extractors (e.g. by :func:`roicore.extract`) to the
        file they were computed from, so that messages about them name it.
    """

    _init_args: tuple[Any, ...]
    _init_kwargs: dict[str, Any]
    _times: np.ndarray | None
    _closed: bool
    _fs_override: float | None
    source: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Every reader's getter is wrapped once so that set_sampling_frequency()
        # wins over the file's value and the result is always a float or None.
        getter = cls.__dict__.get("get_sampling_frequency")
        if getter is not None and not getattr(getter, "_roicore_rate_getter", False):
            setattr(cls, "get_sampling_frequency", _rate_getter(getter))

    def __new__(cls, *args: Any, **kwargs: Any) -> BaseExtractor:
        self = super().__new__(cls)
        self._init_args = args
        self._init_kwargs = kwargs
        # set here, not in __init__, so readers need not call super().__init__()
        self._times = None
        self._closed = False
        self._fs_override = None
        self.source = None
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The arguments are captured by __new__; accepting them here keeps
        # readers ported from roiextractors (super().__init__(**kwargs)) working.
        pass

    # -- pickling ---------------------------------------------------------------

    def _pickle_state(self) -> dict[str, Any]:
        """The state set after construction that a pickle must carry."""
        return {"_times": self._times, "source": self.source, "_fs_override": self._fs_override}

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _reconstruct,
            (type(self), self._init_args, self._init_kwargs),
            self._pickle_state(),
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)

    # -- lifecycle --------------------------------------------------------------

    def __enter__(self) -> BaseExtractor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the extractor's resources (open files, mappings).

        Calling it again does nothing. Reading from a closed extractor raises
        ValueError; closing a view leaves its parent open.
        """
        if self._closed:
            return
        self._closed = True
        self._close()

    def _close(self) -> None:
        """Hook: release resources. Called once, by :meth:`close`."""

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"I/O operation on a closed {type(self).__name__}")

    # -- metadata every kind provides ---------------------------------------------

    @abc.abstractmethod
    def get_num_samples(self) -> int:
        """Number of samples (time points)."""

    @abc.abstractmethod
    def get_sampling_frequency(self) -> float | None:
        """Sampling frequency in Hz, or None when the source stores no rate.

        A rate given with :meth:`set_sampling_frequency` wins over the source's.
        """

    def set_sampling_frequency(self, sampling_frequency: float) -> None:
        """Give the frame rate in Hz (for sources that store none, or to correct one).

        It wins over the rate stored in the file; views made from this
        extractor see it too. Pickles carry it.

        Raises
        ------
        ValueError
            Not a finite number > 0.
        """
        self._fs_override = _check_finite_positive(sampling_frequency, "sampling_frequency")

    def _source_name(self) -> str:
        """The file this extractor was opened from, else its class name (for messages)."""
        path = getattr(self.source, "path", None)
        if path:
            return str(path)
        derived = self.__dict__.get("derived_from")
        if derived:
            return f"{type(self).__name__} of {derived}"
        # made without roicore.open: readers take the path first (or as file_path=/folder_path=)
        given = self._init_args[:1] or [self._init_kwargs.get(k) for k in ("file_path", "folder_path")]
        for value in given:
            if isinstance(value, (str, os.PathLike)):
                return os.fspath(value)
        return type(self).__name__

    def require_sampling_frequency(self, needed_for: str) -> float:
        """The rate, for calls that cannot work without one (writers of formats that store a rate).

        Parameters
        ----------
        needed_for : str
            What needs it, for the message (e.g. ``"writing NWB's rate"``).

        Raises
        ------
        UnknownSamplingFrequencyError
            The rate is unknown; the message names the source and the ways to give it.
        """
        fs = self.get_sampling_frequency()
        if fs is None:
            name = self._source_name()
            is_path = name != type(self).__name__ and not self.__dict__.get("derived_from")
            raise UnknownSamplingFrequencyError(name, path=name if is_path else None, needed_for=needed_for)
        return fs

    # -- time -------------------------------------------------------------------

    def get_native_timestamps(
        self, start_sample: int | None = None, end_sample: int | None = None
    ) -> np.ndarray | None:
        """Timestamps stored in the source, in seconds, or None if it has none.

        Readers whose format stores times override this and return the
        window ``[start_sample, end_sample)``.
        """
        return None

    def _fallback_timestamps(self, start: int, end: int) -> np.ndarray:
        """Timestamps when :meth:`set_times` was not used (views override this)."""
        native = self.get_native_timestamps(start, end)
        if native is not None:
            times = np.array(native, dtype=np.float64, copy=True)
            if times.shape != (end - start,):
                raise RuntimeError(
                    f"{type(self).__name__}.get_native_timestamps({start}, {end}) "
                    f"returned shape {times.shape}, expected ({end - start},)"
                )
            return times
        fs = self.require_sampling_frequency("get_timestamps()")
        return np.arange(start, end, dtype=np.float64) / fs

    def _view_timestamps(self, parent: BaseExtractor, start: int, end: int, offset: int) -> np.ndarray:
        """Timestamps of a view whose samples are ``parent``'s from ``offset`` on.

        The parent's times, unless this view was given its own rate and the
        parent has no time vector: then ``(offset + i) / rate``.
        """
        if self._fs_override is not None and not parent.has_time_vector():
            return (np.arange(start, end, dtype=np.float64) + offset) / self._fs_override
        return parent.get_timestamps(start + offset, end + offset)

    def get_timestamps(
        self, start_sample: int | None = None, end_sample: int | None = None
    ) -> np.ndarray:
        """Time of each sample in ``[start_sample, end_sample)``, in seconds.

        The times set by :meth:`set_times` come first, then the source's native
        timestamps, then ``arange(start_sample, end_sample) / fs``.

        Returns
        -------
        numpy.ndarray
            A new float64 array of length ``end_sample - start_sample``.
        """
        start, end = _resolve_range(start_sample, end_sample, self.get_num_samples())
        if self._times is not None:
            return self._times[start:end].copy()
        return self._fallback_timestamps(start, end)

    def set_times(self, times: Any) -> None:
        """Set the time of every sample, in seconds.

        Parameters
        ----------
        times : array_like
            1-D, one finite value per sample, non-decreasing. A copy is stored.

        Raises
        ------
        ValueError
            Wrong shape or length, a non-finite value, or a decrease.
        """
        arr = np.array(times, dtype=np.float64, copy=True)
        n = self.get_num_samples()
        if arr.ndim != 1:
            raise ValueError(f"times must be 1-D, got shape {arr.shape}")
        if arr.shape[0] != n:
            raise ValueError(
                f"times has {arr.shape[0]} values but the extractor has {n} samples"
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError("times must be finite (no NaN or infinity)")
        if arr.size > 1 and np.any(np.diff(arr) < 0):
            first = int(np.flatnonzero(np.diff(arr) < 0)[0])
            raise ValueError(
                f"times must be non-decreasing: times[{first + 1}]={arr[first + 1]} "
                f"< times[{first}]={arr[first]}"
            )
        self._times = arr

    def has_time_vector(self) -> bool:
        """True if times were set with :meth:`set_times` or the source has native times."""
        if self._times is not None:
            return True
        n = self.get_num_samples()
        return self.get_native_timestamps(0, min(1, n)) is not None

    def time_to_sample_indices(self, times: Any) -> Any:
        """Index of the last sample at or before each time.

        Times before the first sample map to 0 (clipped), times after the
        last sample map to the last index.

        Parameters
        ----------
        times : float or array_like of float
            Times in seconds (no NaN).

        Returns
        -------
        numpy.int64 or numpy.ndarray
            int64, same shape as ``times``.
        """
        t = np.asarray(times, dtype=np.float64)
        if np.any(np.isnan(t)):
            raise ValueError("times must not contain NaN")
        n = self.get_num_samples()
        if n == 0:
            raise ValueError(f"{type(self).__name__} has no samples")
        if self._times is None and self.get_sampling_frequency() is None and not self.has_time_vector():
            self.require_sampling_frequency("time_to_sample_indices()")
        stamps = self.get_timestamps()
        idx = np.searchsorted(stamps, t, side="right") - 1
        idx = np.clip(idx, 0, n - 1).astype(np.int64)
        if idx.ndim == 0:
            return np.int64(idx)
        return idx

    # -- repr -------------------------------------------------------------------

    def _describe(self) -> str:
        """Hook: a one-line summary from metadata only (never reads data)."""
        return ""

    def _rate_text(self) -> str:
        """``"30 Hz"``, or ``"rate unknown"`` (for summaries)."""
        fs = self.get_sampling_frequency()
        return "rate unknown" if fs is None else f"{fs:g} Hz"

    def __repr__(self) -> str:
        name = type(self).__name__
        try:
            details = self._describe()
        except Exception:  # a repr must never raise, e.g. on a closed reader
            details = ""
        state = " (closed)" if self._closed else ""
        return f"<{name}{': ' + details if details else ''}{state}>"
