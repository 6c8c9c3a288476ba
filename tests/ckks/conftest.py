"""SEAL (tenseal.sealapi) worlds for the bit-exact tests: a context, its keys, imported into ours."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tenseal import sealapi

from securecompute.ckks import Ciphertext, CKKSParameters
from securecompute.ckks.keys import GaloisKeys, KeySwitchingKey, SecretKey
from securecompute.ckks.ring import galois_element
from securecompute.ckks.seal_import import (
    galois_keys_from_seal,
    parameters_from_seal,
    relin_key_from_seal,
    secret_key_from_seal,
)

STEPS = [1, -1, 5]


@dataclass
class SealWorld:
    """One SEAL context with keys, and the same keys as our values."""

    context: Any
    encoder: Any
    encryptor: Any
    evaluator: Any
    relin_keys: Any
    galois_keys: Any
    params: CKKSParameters
    secret_key: SecretKey
    secret_key_seal: Any
    keygen: Any
    relin_key: KeySwitchingKey
    ours_galois: GaloisKeys
    steps: list[int]

    def encrypt(self, values: np.ndarray, scale: float, level_drops: int = 0) -> Any:
        plain = sealapi.Plaintext()
        parms_id = self.context.first_parms_id()
        for _ in range(level_drops):
            parms_id = self.context.get_context_data(parms_id).next_context_data().parms_id()
        self.encoder.encode(list(values), parms_id, scale, plain)
        cipher = sealapi.Ciphertext()
        self.encryptor.encrypt(plain, cipher)
        return cipher


def make_world(n: int, bit_sizes: list[int], steps: list[int] | None = None, conjugate: bool = False) -> SealWorld:
    """SEAL CKKS with fresh keys (TC128 chain), Galois keys for ``steps``, all imported."""
    steps = STEPS if steps is None else steps
    parameters = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.CKKS)
    parameters.set_poly_modulus_degree(n)
    parameters.set_coeff_modulus(sealapi.CoeffModulus.Create(n, bit_sizes))
    context = sealapi.SEALContext(parameters, True, sealapi.SEC_LEVEL_TYPE.TC128)
    keygen = sealapi.KeyGenerator(context)
    public = sealapi.PublicKey()
    keygen.create_public_key(public)
    relin = sealapi.RelinKeys()
    keygen.create_relin_keys(relin)
    elements = [galois_element(step, n) for step in steps] + ([2 * n - 1] if conjugate else [])
    galois = sealapi.GaloisKeys()
    keygen.create_galois_keys(elements, galois)  # a list is taken as Galois elements
    params = parameters_from_seal(context)
    return SealWorld(
        context=context,
        encoder=sealapi.CKKSEncoder(context),
        encryptor=sealapi.Encryptor(context, public),
        evaluator=sealapi.Evaluator(context),
        relin_keys=relin,
        galois_keys=galois,
        params=params,
        secret_key=secret_key_from_seal(keygen.secret_key(), params),
        secret_key_seal=keygen.secret_key(),
        keygen=keygen,
        relin_key=relin_key_from_seal(relin, params),
        ours_galois=galois_keys_from_seal(galois, params, elements),
        steps=steps,
    )


@pytest.fixture(scope="session")
def world_8192() -> SealWorld:
    """N = 2^13, chain (60, 40, 40, 60): three data primes and SEAL's special prime."""
    return make_world(8192, [60, 40, 40, 60], conjugate=True)


def seal_ciphertext_from_ours(world: SealWorld, ciphertext: Ciphertext, template: Any, path: Path) -> Any:
    """Our NTT-form ciphertext as a ``sealapi.Ciphertext`` at ``template``'s level, through SEAL's own loader.

    Writes SEAL 4.3's uncompressed serialisation (a 16-byte header: magic 0xA15E, header size, version
    4.3, compression none, size; then parms_id, NTT flag, size, N, limb count, scale, correction
    factor, and the words as a DynArray with its own header) and lets ``Ciphertext.load`` parse and
    validate it, so tests can hand SEAL inputs that its encryptor would practically never produce.
    """

    def header(total: int) -> bytes:
        return struct.pack("<HBBBBHQ", 0xA15E, 16, 4, 3, 0, 0, total)

    words = np.ascontiguousarray(ciphertext.data, dtype="<u8")
    array = struct.pack("<Q", words.size) + words.tobytes()
    size, limbs, n = words.shape
    members = (
        struct.pack("<4Q", *(int(word) for word in template.parms_id()))
        + struct.pack("<B", 1)
        + struct.pack("<3Q", size, n, limbs)
        + struct.pack("<d", ciphertext.scale)
        + struct.pack("<Q", 1)
        + header(16 + len(array))
        + array
    )
    path.write_bytes(header(16 + len(members)) + members)
    loaded = sealapi.Ciphertext()
    loaded.load(world.context, str(path))
    return loaded
