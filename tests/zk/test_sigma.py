"""Sigma protocols: the product proof is complete, rejects a wrong product."""

from __future__ import annotations

import pytest

from securecompute.zk import group
from securecompute.zk.commit import BlindSource
from securecompute.zk.field import MODULUS
from securecompute.zk.sigma import commit_scalar, prove_product, verify_product
from securecompute.zk.transcript import Transcript


@pytest.mark.parametrize(("x", "y"), [(3, 5), (0, 7), (MODULUS - 1, MODULUS - 2)])
def test_product_proof_accepts_a_true_product(x: int, y: int) -> None:
    generators = group.generators(1)
    blinds = BlindSource(1)
    rx, ry, rz = blinds.scalars(3)
    proof = prove_product(Transcript(b"t"), b"p", (x, rx), (y, ry), rz, blinds, generators)
    commitments = [commit_scalar(v, b, generators) for v, b in ((x, rx), (y, ry), (x * y, rz))]
    assert verify_product(Transcript(b"t"), b"p", *commitments, proof, generators)


def test_product_proof_rejects_a_wrong_product() -> None:
    generators = group.generators(1)
    blinds = BlindSource(2)
    rx, ry, rz = blinds.scalars(3)
    proof = prove_product(Transcript(b"t"), b"p", (3, rx), (5, ry), rz, blinds, generators)
    commitments = [commit_scalar(v, b, generators) for v, b in ((3, rx), (5, ry), (16, rz))]
    assert not verify_product(Transcript(b"t"), b"p", *commitments, proof, generators)
    good = [commit_scalar(v, b, generators) for v, b in ((3, rx), (5, ry), (15, rz))]
    assert not verify_product(Transcript(b"other"), b"p", *good, proof, generators)
