"""Hashing and address primitives for the submission hot path, exact drop-ins for eth-utils.

Why: every SubmitIntent checksums about a dozen addresses and hashes half a dozen words;
with eth-utils that is ~15 µs per checksum and ~5 µs per keccak, most of it Python
wrapping around a few hundred nanoseconds of C. Here:

- :func:`keccak256` calls pycryptodome's keccak C code directly through ctypes with one
  reusable state per thread (~1 µs instead of ~5 µs), holding the GIL (``PyDLL``: under
  contention, releasing it around a call this short costs a thread switch); it falls back to
  ``eth_utils.keccak`` if that library cannot be loaded, and checks itself at import;
- :func:`to_checksum_address` gives exactly what ``eth_utils.to_checksum_address`` gives
  (anything it does not handle by itself goes to eth-utils, errors included), and keeps
  a bounded cache, since the same settlers, tokens and users come back all the time;
- :func:`recover_address` is secp256k1 public-key recovery with coincurve directly, no
  eth-keys objects in between. It does *not* apply Orbital's signature rules (65 bytes,
  v in {27, 28}, low s): :mod:`protocol.signatures` does, before calling it.
"""

from __future__ import annotations

import ctypes
import glob
import os
import re
import threading
from typing import Any

import coincurve
from eth_utils import keccak as _eth_keccak
from eth_utils import to_checksum_address as _eth_checksum

__all__ = ["keccak256", "to_checksum_address", "recover_address", "word", "address_word"]

# ---- keccak256 ------------------------------------------------------------------------------


def _load_keccak():
    """pycryptodome's raw keccak functions with our own prototypes (its module's function
    objects stay untouched), or None."""
    try:
        import Crypto.Hash
        paths = glob.glob(os.path.join(os.path.dirname(Crypto.Hash.__file__), "_keccak*.so"))
        if not paths:
            return None
        lib = ctypes.PyDLL(paths[0])   # keeps the GIL: a 1 µs call must not hand it over
        init, absorb, digest, reset, destroy = (lib.keccak_init, lib.keccak_absorb,
                                                lib.keccak_digest, lib.keccak_reset,
                                                lib.keccak_destroy)
    except (ImportError, OSError, AttributeError):
        return None
    vp = ctypes.c_void_p
    init.argtypes = [ctypes.POINTER(vp), ctypes.c_size_t, ctypes.c_uint8]
    absorb.argtypes = [vp, ctypes.c_char_p, ctypes.c_size_t]
    digest.argtypes = [vp, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint8]
    reset.argtypes = [vp]
    destroy.argtypes = [vp]
    for fn in (init, absorb, digest, reset, destroy):
        fn.restype = ctypes.c_int
    return init, absorb, digest, reset, destroy


_RAW = _load_keccak()
_local = threading.local()


class _State:
    """One keccak-256 state (capacity 64 bytes, 24 rounds) and its output buffer, per thread."""

    __slots__ = ("ptr", "out")

    def __init__(self) -> None:
        self.ptr = ctypes.c_void_p()
        if _RAW[0](ctypes.byref(self.ptr), 64, 24):
            raise MemoryError("keccak_init failed")
        self.out = ctypes.create_string_buffer(32)

    def __del__(self) -> None:
        try:
            if self.ptr:
                _RAW[4](self.ptr)
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing to free into
            pass


def _keccak_raw(data: bytes) -> bytes:
    try:
        st = _local.state
    except AttributeError:
        st = _local.state = _State()
    _, absorb, digest, reset, _ = _RAW
    reset(st.ptr)
    absorb(st.ptr, data, len(data))
    digest(st.ptr, st.out, 32, 1)   # padding 0x01: keccak (Ethereum), not SHA3's 0x06
    return st.out.raw


def _keccak_eth(data: bytes) -> bytes:
    return _eth_keccak(data)


keccak256 = _keccak_eth
if _RAW is not None:
    try:
        if all(_keccak_raw(d) == _eth_keccak(d) for d in (b"", b"abc", bytes(range(256)) * 3)):
            keccak256 = _keccak_raw
    except Exception:  # noqa: BLE001 - any surprise: the reference implementation
        pass
keccak256.__doc__ = "keccak256 of ``data`` (bytes) as 32 bytes."


def word(value: int) -> bytes:
    """A uint256 ABI word (the caller guarantees 0 <= value < 2**256)."""
    return value.to_bytes(32, "big")


def address_word(address: str) -> bytes:
    """A 0x address (40 hex digits) left-padded to a 32-byte ABI word."""
    return bytes(12) + bytes.fromhex(address[2:])


# ---- checksummed addresses --------------------------------------------------------------------
_ADDRESS = re.compile("(0x)?[0-9a-f]{40}", re.IGNORECASE | re.ASCII)   # eth-utils is_hex_address
_CACHE: dict[str, str] = {}
_CACHE_MAX = 1 << 16


def to_checksum_address(value: Any) -> str:
    """``eth_utils.to_checksum_address(value)``, same result and same errors, faster."""
    hit = _CACHE.get(value) if type(value) is str else None
    if hit is not None:
        return hit
    if type(value) is not str or _ADDRESS.fullmatch(value) is None:
        return _eth_checksum(value)
    low = value[-40:].lower()
    h = keccak256(low.encode("ascii")).hex()
    out = "0x" + "".join(c.upper() if d > "7" else c for c, d in zip(low, h))
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[value] = out
    _CACHE[out] = out
    return out


# ---- signer recovery --------------------------------------------------------------------------
def recover_address(digest: bytes, signature: bytes) -> str:
    """Checksummed address whose key made the 65-byte (r, s, v) ``signature`` over the 32-byte
    ``digest``; ``v`` is 27 or 28 (checked by the caller). Raises ValueError when no public
    key recovers (r or s zero or out of range, r not an x coordinate)."""
    try:
        pub = coincurve.PublicKey.from_signature_and_message(
            signature[:64] + bytes((signature[64] - 27,)), digest, hasher=None)
    except Exception as exc:  # noqa: BLE001 - coincurve raises plain Exception/ValueError
        raise ValueError(f"no public key recovers from this signature ({exc})") from None
    return to_checksum_address("0x" + keccak256(pub.format(compressed=False)[1:])[12:].hex())
