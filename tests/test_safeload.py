"""roicore.safeload: .npy files (object arrays included) read without running code from them."""

from __future__ import annotations

import collections
import datetime
import io
import os
import pathlib
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from roicore.errors import CorruptFileError, UnsafePickleError
from roicore.safeload import load_npy, loads_restricted, read_npy_header

REALDATA = Path(os.environ.get("ROICORE_REALDATA") or Path(__file__).resolve().parents[2] / "shared" / "realdata")
SUITE2P_PLANE = REALDATA / "suite2p-0.14.6" / "plane0"


def _npy_bytes(payload: bytes, shape: tuple[int, ...] = (), descr: str = "|O") -> bytes:
    """A .npy file made by hand: a version 1.0 header, then ``payload`` (a pickle for object arrays)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + payload


def _object_array(value: Any) -> np.ndarray:
    holder = np.empty((), dtype=object)
    holder[()] = value
    return holder


def _write_object_npy(path: Path, value: Any, protocol: int = 3) -> Path:
    array = value if isinstance(value, np.ndarray) else _object_array(value)
    path.write_bytes(_npy_bytes(pickle.dumps(array, protocol=protocol), array.shape))
    return path


class _Payload:
    """Unpickling this with the standard unpickler calls ``os.system`` (creating ``marker``)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def _malicious_npy(path: Path, marker: Path) -> Path:
    """A stat.npy look-alike: an object array whose second element runs a shell command when unpickled."""
    array = np.empty(2, dtype=object)
    array[0] = {"ypix": np.arange(3), "xpix": np.arange(3), "lam": np.ones(3, np.float32)}
    array[1] = _Payload(marker)
    path.write_bytes(_npy_bytes(pickle.dumps(array, protocol=3), (2,)))
    return path


def _deep_equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if type(a) is not type(b) or a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.hasobject:
            return all(_deep_equal(x, y) for x, y in zip(a.ravel(), b.ravel()))
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, dict):
        return type(a) is type(b) and list(a) == list(b) and all(_deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_deep_equal, a, b))
    if isinstance(a, np.generic):
        return type(a) is type(b) and (a == b or (a != a and b != b))
    return type(a) is type(b) and a == b


# -- the malicious pickle ------------------------------------------------------------------------


def test_the_payload_really_runs_code_with_the_standard_unpickler(tmp_path: Path) -> None:
    """Control: the crafted file is a real attack (numpy.load(allow_pickle=True) in a child process runs it)."""
    marker = tmp_path / "pwned-by-numpy"
    path = _malicious_npy(tmp_path / "stat.npy", marker)
    code = "import sys, numpy; numpy.load(sys.argv[1], allow_pickle=True)"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, cwd=tmp_path)
    assert marker.exists()


def test_load_npy_refuses_the_malicious_pickle_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned-by-roicore"
    path = _malicious_npy(tmp_path / "stat.npy", marker)
    with pytest.raises(UnsafePickleError) as info:
        load_npy(path)
    assert not marker.exists()
    error = info.value
    assert isinstance(error, CorruptFileError) and isinstance(error, ValueError)
    assert error.path == str(path)
    assert error.global_name in ("posix.system", "nt.system")
    assert str(path) in str(error) and error.global_name in str(error)


@pytest.mark.parametrize(
    ("target", "protocol", "refused"),
    [
        (eval, 3, "builtins.eval"),
        (exec, 3, "builtins.exec"),
        (getattr, 3, "builtins.getattr"),
        (__import__, 3, "builtins.__import__"),
        (subprocess.Popen, 3, "subprocess.Popen"),
        (np.load, 3, "numpy.load"),
        (collections.Counter, 3, "collections.Counter"),
        (pathlib.Path.write_text, 3, "builtins.getattr"),  # protocol 3 spells a method as getattr(Path, ...)
        (pathlib.Path.write_text, 4, "pathlib.Path.write_text"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_every_other_global_is_refused(tmp_path: Path, target: Any, protocol: int, refused: str) -> None:
    class Reduces:
        def __reduce__(self) -> tuple[Any, ...]:
            return (target, ("1",))

    path = tmp_path / "ops.npy"
    path.write_bytes(_npy_bytes(pickle.dumps(_object_array({"fs": 15.0, "bad": Reduces()}), protocol=protocol)))
    with pytest.raises(UnsafePickleError) as info:
        load_npy(path)
    assert info.value.global_name == refused


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
@pytest.mark.parametrize("subclass", [np.matrix, np.ma.MaskedArray, np.memmap, np.recarray])
def test_numpy_subclasses_are_refused(tmp_path: Path, subclass: type) -> None:
    array = np.ones((2, 2))
    if subclass is np.memmap:
        mapped = np.memmap(tmp_path / "m.dat", dtype=np.float64, mode="w+", shape=(2, 2))
        value: Any = mapped
    elif subclass is np.recarray:
        value = np.rec.fromarrays([np.arange(3)])
    else:
        value = subclass(array)
    path = _write_object_npy(tmp_path / "ops.npy", {"image": value})
    with pytest.raises(CorruptFileError):
        load_npy(path)


def test_every_lookup_raises_an_audit_event(tmp_path: Path) -> None:
    code = (
        "import sys, numpy\n"
        "from roicore.safeload import load_npy\n"
        "seen = []\n"
        "sys.addaudithook(lambda event, args: seen.append(args) if event == 'roicore.safeload.find_class' else None)\n"
        "try:\n"
        "    load_npy(sys.argv[1])\n"
        "except Exception as error:\n"
        "    print(type(error).__name__)\n"
        "print(sorted(set(seen)))\n"
    )
    path = _malicious_npy(tmp_path / "stat.npy", tmp_path / "marker")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[0] == "UnsafePickleError"
    seen = done.stdout.splitlines()[1]
    assert "('numpy', 'ndarray', True)" in seen and "('posix', 'system', False)" in seen
    assert not (tmp_path / "marker").exists()


def test_persistent_ids_are_refused() -> None:
    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: Any) -> Any:
            return "secret" if obj == "x" else None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=3).dump(["x"])
    with pytest.raises(UnsafePickleError, match="persistent id"):
        loads_restricted(buffer.getvalue(), source="memory.pkl")


# -- what is allowed comes back exactly -------------------------------------------------------------


@pytest.mark.parametrize("protocol", [0, 2, 3, 4, 5])
def test_allowed_content_round_trips_exactly(tmp_path: Path, protocol: int) -> None:
    value = collections.OrderedDict(
        fs=15.0,
        Ly=64,
        name="plane0",
        raw=b"\x00\xff",
        flags=[True, False, None],
        nested={"block_size": [128, 128], "pair": (1, 2.5), "tags": {"a", "b"}, "frozen": frozenset({3})},
        when=datetime.datetime(2026, 11, 21, 0, 0, 3, 920561, tzinfo=datetime.timezone(datetime.timedelta(hours=1))),
        day=datetime.date(2026, 1, 2),
        span=datetime.timedelta(seconds=3.5),
        z=complex(1, -2),
        image=np.arange(12, dtype=np.float32).reshape(3, 4),
        fortran=np.asfortranarray(np.arange(6, dtype="<i2").reshape(2, 3)),
        scalars=[np.float64(2.5), np.int32(-3), np.bool_(True), np.uint8(7), np.float32(np.nan)],
        structured=np.zeros(2, dtype=[("a", "<f4"), ("b", "<i8")]),
        objects=np.array([{"ypix": np.arange(3)}, [1, 2]], dtype=object),
        empty=np.empty((0, 5)),
    )
    path = _write_object_npy(tmp_path / f"ops-{protocol}.npy", value, protocol=protocol)
    loaded = load_npy(path)
    assert loaded.shape == () and loaded.dtype == object
    assert _deep_equal(loaded.item(), value)


def test_paths_come_back_as_pure_paths(tmp_path: Path) -> None:
    value = {"save_path": pathlib.PurePosixPath("/data/suite2p/plane0"), "data": [pathlib.PureWindowsPath(r"C:\rec\a.tif")]}
    path = _write_object_npy(tmp_path / "db.npy", value)
    loaded = load_npy(path).item()
    assert loaded["save_path"] == pathlib.PurePosixPath("/data/suite2p/plane0")
    assert type(loaded["save_path"]) is pathlib.PurePosixPath
    assert loaded["data"][0] == pathlib.PureWindowsPath(r"C:\rec\a.tif")


@pytest.mark.parametrize(
    "array",
    [
        np.arange(24, dtype=np.float32).reshape(2, 3, 4),
        np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4)),
        np.arange(5, dtype=">f8"),
        np.array(3.5),
        np.zeros((0, 7), dtype=np.uint16),
        np.array([(1, 2.0)], dtype=[("i", "<i4"), ("f", "<f8")]),
    ],
    ids=["c-float32", "fortran-int16", "big-endian", "0-d", "empty", "structured"],
)
def test_numeric_arrays_equal_numpy_load(tmp_path: Path, array: np.ndarray) -> None:
    path = tmp_path / "a.npy"
    np.save(path, array)
    expected = np.load(path)
    for mmap in (False, True):
        loaded = load_npy(path, mmap=mmap)
        assert loaded.dtype == expected.dtype and loaded.shape == expected.shape
        np.testing.assert_array_equal(loaded, expected)
        assert loaded.flags.f_contiguous == expected.flags.f_contiguous


def test_header_versions_2_and_3(tmp_path: Path) -> None:
    array = np.arange(6, dtype=np.int64).reshape(2, 3)
    for version in ((2, 0), (3, 0)):
        path = tmp_path / f"v{version[0]}.npy"
        with path.open("wb") as handle:
            np.lib.format.write_array(handle, array, version=version)
        assert read_npy_header(path).version == version
        np.testing.assert_array_equal(load_npy(path), array)


# -- damaged files ------------------------------------------------------------------------------


def _damaged_cases(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "good.npy"
    np.save(good, np.arange(100, dtype=np.float64))
    ops = _write_object_npy(tmp_path / "ops.npy", {"fs": 15.0, "image": np.ones((8, 8))})
    cases = {
        "truncated-numbers": good.read_bytes()[:-8],
        "extra-bytes": good.read_bytes() + b"\x00" * 8,
        "no-magic": b"PK\x03\x04" + good.read_bytes()[4:],
        "empty": b"",
        "header-not-literal": _npy_bytes(b"")[:10] + b"{'descr': os.system('x')}".ljust(len(_npy_bytes(b"")) - 11) + b"\n",
        "header-bad-shape": _npy_bytes(b"", shape=(-1,), descr="<f8"),
        "truncated-pickle": ops.read_bytes()[:-20],
        "garbage-pickle": _npy_bytes(b"\x80\x03garbage-not-a-pickle"),
        "pickle-is-not-an-array": _npy_bytes(pickle.dumps({"fs": 15.0}, protocol=3)),
        "pickle-wrong-shape": _npy_bytes(pickle.dumps(np.empty(3, dtype=object), protocol=3), (2,)),
        "bytes-after-pickle": ops.read_bytes() + b"\x80\x03N.",
    }
    paths = {}
    for name, content in cases.items():
        paths[name] = tmp_path / f"{name}.npy"
        paths[name].write_bytes(content)
    return paths


def test_damaged_files_raise_corrupt_file_error_naming_the_file(tmp_path: Path) -> None:
    for name, path in _damaged_cases(tmp_path).items():
        with pytest.raises(CorruptFileError) as info:
            load_npy(path)
        assert str(path) in str(info.value), name
        assert not isinstance(info.value, UnsafePickleError), name


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_npy(tmp_path / "absent.npy")


# -- the real suite2p files -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ops.npy", "stat.npy", "F.npy", "iscell.npy"])
def test_real_suite2p_files_equal_a_plain_numpy_read(name: str) -> None:
    if not SUITE2P_PLANE.is_dir():
        pytest.skip(f"real suite2p output {SUITE2P_PLANE} is absent (it sits beside the repository, in ../shared/realdata)")
    path = SUITE2P_PLANE / name
    # the independent reference: numpy's own unpickler, used on a known-good file in this test only
    reference = np.load(path, allow_pickle=True)
    assert _deep_equal(load_npy(path), reference)


def test_import_roicore_does_not_import_safeload() -> None:
    code = (
        "import sys, roicore; assert 'roicore.safeload' not in sys.modules; "
        "import roicore.safeload; heavy = {'h5py', 'scipy', 'pluggy', 'importlib.metadata'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
