"""Makes reference_image_spec.json.gz: a spec made by the reference itself and the reference's own numbers.

Run ONCE in a throwaway venv with the reference installed (`pip install torch==2.13.0 learnware==0.3.2
torchvision torch-optimizer scikit-learn`), never in lwdock's venv:
    python tests/compat/data/make_reference_image_fixture.py tests/compat/data/reference_image_spec.json.gz
It writes {"spec": the file RKMEImageSpecification.save wrote (K=2, digits 0-4 as 1x32x32 images, a short
fit), "numbers": inner products and MMDs the reference computes, as it runs (float32) and in float64}
for the specs `reference_digit_specs` in tests/compat/test_reference_image_kernel.py rebuilds.
"""

import gzip
import json
import sys
import tempfile

import numpy as np
import torch
from learnware.specification import RKMEImageSpecification
from learnware.specification.regular.image.rkme import _build_ConvNet_NNGP
from sklearn.datasets import load_digits


def digit_specs():
    """The same recipe as the test's: 3 standardised images per class, beta uniform."""
    X, y = load_digits(return_X_y=True)
    imgs = np.kron(X.reshape(-1, 1, 8, 8), np.ones((1, 1, 4, 4)))
    imgs = (imgs - imgs.mean()) / imgs.std()
    out = {}
    for name, classes, first in (("low", range(5), 0), ("high", range(5, 10), 0), ("query", range(5), 3)):
        z = np.concatenate([imgs[y == c][first:first + 3] for c in classes]).astype(np.float32)
        out[name] = (z, np.full(len(z), 1.0 / len(z)))
    return imgs, y, out


def main(path):
    imgs, y, specs = digit_specs()
    made = RKMEImageSpecification(cuda_idx=-1, n_models=2)
    made.generate_stat_spec_from_data(X=imgs[y <= 4][:100].astype(np.float32), K=2, steps=3, verbose=False)
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        made.save(f.name)
        saved = json.load(open(f.name))
    objs = {"made": made}
    for name, (z, beta) in specs.items():
        s = RKMEImageSpecification(cuda_idx=-1)
        s.z, s.beta = torch.from_numpy(z), torch.from_numpy(beta)
        objs[name] = s
    numbers = {}
    for a in objs:
        for b in objs:
            numbers[f"inner.{a}.{b}"] = objs[a].inner_prod(objs[b])
        numbers[f"dist.query.{a}"] = objs["query"].dist(objs[a])
    k64 = _build_ConvNet_NNGP(channel=1).double()
    for a in objs:
        for b in objs:
            za, zb = objs[a].z.double(), objs[b].z.double()
            K = k64(za) if a == b else k64(za, zb)
            numbers[f"inner64.{a}.{b}"] = float(objs[a].beta.double() @ K @ objs[b].beta.double())
    with gzip.open(path, "wt") as f:
        json.dump({"spec": saved, "numbers": numbers}, f)


if __name__ == "__main__":
    main(sys.argv[1])
