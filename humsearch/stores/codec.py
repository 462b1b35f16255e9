"""JSON-safe encoding of the small arrays stored next to a song (its melody contour)."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

# Melody contours are small integer arrays; refusing other types keeps stored documents small.
ALLOWED_DTYPES = ("int8", "uint8", "int16")


def encode_array(array: np.ndarray | None) -> dict[str, Any] | None:
    """{"dtype", "shape", "b64"} for a small integer array, None for None.

    Raises:
        ValueError: the dtype is not one of ALLOWED_DTYPES.
    """
    if array is None:
        return None
    array = np.asarray(array)
    if array.dtype.name not in ALLOWED_DTYPES:
        raise ValueError(f"melody must be one of {ALLOWED_DTYPES}, got {array.dtype.name}")
    data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return {"dtype": array.dtype.name, "shape": list(array.shape), "b64": base64.b64encode(data.tobytes()).decode()}


def decode_array(encoded: dict[str, Any] | None) -> np.ndarray | None:
    """Inverse of encode_array."""
    if not encoded:
        return None
    dtype = np.dtype(encoded["dtype"]).newbyteorder("<")
    raw = np.frombuffer(base64.b64decode(encoded["b64"]), dtype=dtype)
    return raw.reshape(encoded["shape"]).astype(dtype.newbyteorder("="))
