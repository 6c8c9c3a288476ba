"""numpy's and opt_einsum's own einsum test expressions, run encrypted (simulate mode) against numpy.einsum.

The expressions and operand shapes below are facts collected from ``numpy/_core/tests/test_einsum.py``
(numpy 2.x) and ``opt_einsum/tests/`` (3.4): their optimize-compare lists, path, edge-case, broadcasting,
ellipsis, view and singleton cases, and opt_einsum's seeded ``rand_equation`` outputs used by its tests.
Where a suite builds operands from its size table, the same table gives the shapes here.  Cases with an
axis longer than 6 are left out (the issue's bound), and where a suite loops over a length n, n is
taken as 1 and 5.  No code of either suite is copied.

Every expression runs under a seeded choice of which operands are encrypted and which are plain:
all encrypted, every "all but one plain" pattern, and a seeded sample of the others (all patterns of
every 7-operand expression would be 127 runs each).
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from securecompute.errors import ShapeError
from securecompute.fhe import CKKSContext, einsum, plan_einsum
from tests.fhe.conftest import smallest_holding

# The size table both suites build operands from (opt_einsum's is a superset of numpy's).
SUITE_SIZES = dict(zip("abcdefghijklmopqABC", (2, 3, 4, 5, 4, 3, 2, 6, 5, 4, 3, 2, 5, 7, 4, 3, 2, 3, 4), strict=True))
MAX_AXIS = 6

# Expressions whose operands the suites build from SUITE_SIZES.
TABLE_EXPRESSIONS = [
    # hadamard-like, index transformations (numpy test_einsum optimize_compare; opt_einsum test_contract)
    "a,ab,abc->abc",
    "a,b,ab->ab",
    "ea,fb,gc,hd,abcd->efgh",
    "ea,fb,abcd,gc,hd->efgh",
    "abcd,ea,fb,gc,hd->efgh",
    # complex
    "acdf,jbje,gihb,hfac,gfac,gifabc,hfac",
    "cd,bdhe,aidb,hgca,gc,hgibcd,hgac",
    "abhe,hidj,jgba,hiab,gab",
    "bde,cdh,agdb,hica,ibd,hgicd,hiac",
    "chd,bde,agbc,hiad,hgc,hgi,hiad",
    "chd,bde,agbc,hiad,bdi,cgh,agdb",
    "bdhe,acad,hiab,agac,hibd",
    # collapse
    "ab,ab,c->",
    "ab,ab,c->c",
    "ab,ab,cd,cd->",
    "ab,ab,cd,cd->ac",
    "ab,ab,cd,cd->cd",
    "ab,ab,cd,cd,ef,ef->",
    # outer products
    "ab,cd,ef->abcdef",
    "ab,cd,ef->acdf",
    "ab,cd,de->abcde",
    "ab,cd,de->be",
    "ab,bcd,cd->abcd",
    "ab,bcd,cd->abd",
    # edge cases that once failed
    "eb,cb,fb->cef",
    "dd,fb,be,cdb->cef",
    "bca,cdb,dbf,afc->",
    "dcc,fce,ea,dbf->ab",
    "fdf,cdd,ccd,afe->ae",
    "abcd,ad",
    "ed,fcd,ff,bcf->be",
    "baa,dcf,af,cde->be",
    "bd,db,eac->ace",
    "fff,fae,bef,def->abd",
    "efc,dbc,acf,fd->abe",
    "ba,ac,da->bcd",
    # inner products, GEMM-like, inner-than-dot
    "ab,ab",
    "ab,ba",
    "abc,abc",
    "abc,bac",
    "abc,cba",
    "ab,bc",
    "ab,cb",
    "ba,bc",
    "ba,cb",
    "abcd,cd",
    "abcd,ab",
    "abcd,cdef",
    "abcd,cdef->feba",
    "abcd,efdc",
    "aab,bc->ac",
    "ab,bcc->ac",
    "aab,bcc->ac",
    "baa,bcc->ac",
    "aab,ccb->ac",
    # randomly built cases
    "aab,fa,df,ecc->bde",
    "ecb,fef,bad,ed->ac",
    "bcf,bbb,fbf,fc->",
    "bb,ff,be->e",
    "bcb,bb,fc,fff->",
    "fbb,dfd,fc,fc->",
    "afd,ba,cc,dc->bf",
    "adb,bc,fa,cfc->d",
    "bbd,bda,fc,db->acf",
    "dba,ead,cad->bce",
    "aef,fbc,dca->bde",
    # opt_einsum test_backends / test_sharing
    "ab,bc->ca",
    "abc,bcd,dea",
    "abc,def->fedcba",
    "abc,bcd,df->fa",
    "ijk,ikj",
    "i,j->ij",
    "ijk,k->ij",
    "AB,BC->CA",
    "ab,bc,cd->",
    "ab,bc,cd->a",
    "ab,bc,cd->b",
    "ab,bc,cd->c",
    "ab,bc,de->",
    "a,b->",
    # opt_einsum test_paths / numpy TestEinsumPath, test_contract constants, test_input
    "abc,bdef,fghj,cem,mhk,ljk->adgl",
    "a,b,c->abc",
    "acdf,jbje,gihb,hfac",
    "cab,cdd->ab",
    "ab,bc,cd,de->ae",
    "a,a,a->a",
    "ab,bc,cd",
    "ijab,acd,bce,df,ef->ji",
    "ab,cd,ad,cb",
    "a,b",
    "hbc,bdef,cdkj,ji,ikeh,lfo",
    "bdef,cdkj,ji,ikeh,hbc,lfo",
]

# (expression, operand shapes) given explicitly by the suites.
SHAPED_EXPRESSIONS: list[tuple[str, list[tuple[int, ...]]]] = [
    # opt_einsum rand_equation(n, reg, n_out, d_min=2, d_max=5, seed=42) and (5, 3, seed=42, d_max=3)
    ("cd,a,ba,dcb->", [(2, 4), (4,), (5, 4), (4, 2, 5)]),
    ("fe,ebd,ac,cdf->ab", [(5, 4), (4, 5, 4), (4, 2), (2, 4, 5)]),
    ("adf,behcg,g,efh->dcba", [(4, 4, 5), (5, 4, 2, 2, 2), (2,), (4, 5, 2)]),
    ("af,adbe,c,befdc->", [(4, 5), (4, 4, 5, 4), (2,), (5, 4, 5, 4, 2)]),
    ("acdfe,gfhc,h,bdge->ba", [(4, 2, 4, 5, 4), (2, 5, 2, 2), (2,), (5, 4, 2, 4)]),
    ("aghifc,jief,g,bejdh->badc", [(4, 2, 2, 4, 5, 2), (3, 4, 4, 5), (2,), (5, 4, 3, 4, 2)]),
    ("b,ed,ab,ecd,ca->", [(5,), (4, 4), (4, 5), (4, 2, 4), (2, 4)]),
    ("ae,bfc,d,cgfd,ge->ab", [(4, 4), (5, 5, 2), (4,), (2, 2, 5, 4), (2, 4)]),
    ("aefc,he,ig,bif,gdh->abdc", [(4, 4, 5, 2), (2, 4), (4, 2), (5, 4, 5), (2, 4, 2)]),
    ("ad,cfb,fdc,abge,eg->", [(4, 4), (2, 5, 5), (5, 4, 2), (4, 5, 2, 4), (4, 2)]),
    ("ace,hdef,fc,bidg,igh->ab", [(4, 2, 4), (2, 4, 4, 5), (5, 2), (5, 4, 4, 2), (4, 2, 2)]),
    ("gec,kid,aijf,fgjekh,hb->bcad", [(2, 4, 2), (4, 4, 4), (4, 4, 3, 5), (5, 2, 3, 4, 4, 2), (2, 5)]),
    ("ad,cfb,fdc,abge,eg->", [(2, 2), (2, 3, 3), (3, 2, 2), (2, 3, 2, 2), (2, 2)]),
    # opt_einsum edge cases, numpy broadcasting-dot cases
    ("ijk,kl,jl", [(1, 5, 4), (4, 6), (5, 6)]),
    ("abjk,kl,jl", [(1, 1, 5, 4), (4, 6), (5, 6)]),
    ("nlp,nlq,pl->n", [(1, 1, 1), (1, 1, 1), (1, 1)]),
    ("a,bcd,efg->", [(2,), (2, 2, 2), (2, 2, 2)]),
    ("a,b,abc->c", [(2,), (2,), (2, 2, 3)]),
    ("a,->a", [(2,), ()]),
    ("ab,->ab", [(2, 3), ()]),
    (",a,->a", [(), (2,), ()]),
    (",,a,->a", [(), (), (2,), ()]),
    (",,->", [(), (), ()]),
    ("...a->...", [(2, 3, 4)]),
    ("a...->...", [(2, 3, 4)]),
    ("a...a->...a", [(3, 2, 3)]),
    ("...,...", [(2, 3), (3,)]),
    ("...a,...b", [(2, 3), (2, 4)]),
    ("...b,...a->...", [(2, 3), (2, 4)]),
    ("ij,ij->j", [(5, 2), (1, 2)]),
    # numpy test_einsum: views
    ("...", [(2, 3)]),
    ("ij", [(2, 3)]),
    ("ji", [(2, 3)]),
    ("ii->i", [(3, 3)]),
    ("...ii->...i", [(3, 3, 3)]),
    ("ii...->...i", [(3, 3, 3)]),
    ("...ii->i...", [(3, 3, 3)]),
    ("jii->ij", [(3, 3, 3)]),
    ("ii...->i...", [(3, 3, 3)]),
    ("i...i->i...", [(3, 3, 3)]),
    ("i...i->...i", [(3, 3, 3)]),
    ("iii->i", [(3, 3, 3)]),
    ("ijk->jik", [(2, 3, 4)]),
    # numpy test_einsum: sums, products (the suite loops n over 1..16; n = 1 and 5 here)
    *[
        case
        for n in (1, 5)
        for case in [
            ("i->", [(n,)]),
            ("...i->...", [(2, 3, n)]),
            ("i...->...", [(2, n)]),
            ("i...->...", [(2, 3, n)]),
            ("ii", [(n, n)]),
            ("..., ...", [(3, n), (2, 3, n)]),
            ("...i, ...i", [(2, 3, n), (n,)]),
            ("i..., i...", [(n, 3, 2), (n,)]),
            ("i,j", [(3,), (n,)]),
            ("ij, j", [(4, n), (n,)]),
            ("ji,j", [(n, 4), (n,)]),
            ("ij,jk", [(4, n), (n, 6)]),
            ("...,...", [(n,), (n,)]),
            ("i,i", [(n,), (n,)]),
            ("i,->i", [(n,), ()]),
            (",i->i", [(), (n,)]),
            ("i,->", [(n,), ()]),
            (",i->", [(), (n,)]),
        ]
    ],
    ("..., ...", [(), ()]),
    ("ij,jk,kl", [(3, 4), (4, 5), (5, 6)]),
    ("ijk, jil -> kl", [(3, 4, 5), (4, 3, 2)]),
    ("i,i,i->i", [(5,), (5,), (5,)]),
    ("z,mz,zm->", [(2,), (2, 2), (2, 2)]),
    ("i, i", [(2,), (1,)]),
    ("...ij,...jk->...ik", [(1, 5), (1, 5)]),
    ("...ij,...jk->...ik", [(1, 5), (5, 5)]),
    ("ji,i->", [(2, 2), (2,)]),
    ("i,ij->", [(2,), (2, 2)]),
    ("ij,i->", [(2, 2), (2,)]),
    # numpy test_einsum: misc, broadcast, ellipsis (gh-30349), collapsing, contiguity, paths
    ("ij...,j...->i...", [(1, 2), (2, 2, 1)]),
    ("...i,...i", [(3,), (3,)]),
    ("x,yx,zx->xzy", [(2,), (2, 2), (4, 2)]),
    ("i,j", [(1,), (1,)]),
    ("ijk,j->ijk", [(2, 3, 4), (3,)]),
    ("ij...,j...->ij...", [(2, 3, 4), (3,)]),
    ("ij...,...j->ij...", [(2, 3, 4), (3,)]),
    ("ij...,j->ij...", [(2, 3, 4), (3,)]),
    ("ik,kj->ij", [(4, 3), (3, 2)]),
    ("ik...,k...->i...", [(4, 3), (3, 2)]),
    ("ik...,...kj->i...j", [(4, 3), (3, 2)]),
    ("...k,kj", [(4, 3), (3, 2)]),
    ("ik,k...->i...", [(4, 3), (3, 2)]),
    ("ijkl,k->ijl", [(2, 3, 4, 5), (4,)]),
    ("ijkl,k", [(2, 3, 4, 5), (4,)]),
    ("...kl,k", [(2, 3, 4, 5), (4,)]),
    ("...kl,k...", [(2, 3, 4, 5), (4,)]),
    ("i...->i", [(3, 3, 3)]),
    *[
        (subscript, [(3, 3, 3)])
        for subscript in ("...i->i", "ij...->i", "ij...->ij", "...ij->i", "...ij->ij", "i...j->i", "i...j->ij")
    ],
    ("ijk->i", [(3, 3, 3)]),
    ("ijk->ij", [(3, 3, 3)]),
    ("ijk->ijk", [(3, 3, 3)]),
    *[
        (subscript, [(3, 3, 3), (3, 3, 3)])
        for subscript in (
            "ij..., i...->i",
            "j..., i...->j",
            "j..., i...->",
            "ijk, jk...->",
            "ijk, k...->i",
            "ijk, klm->k",
            "ijk, jkl->ik",
        )
    ],
    ("aabb->ab", [(5, 5, 5, 5)]),
    ("mi,mi,mi->m", [(5, 5), (5, 5), (5, 5)]),
    ("im,im,im->m", [(5, 5), (5, 5), (5, 5)]),
    ("ij,jk->ik", [(2, 2), (2, 2)]),
    ("i->", [(5,)]),
    ("i,i->i", [(5,), (5,)]),
    ("i,i->", [(5,), (5,)]),
    ("i,i,i->", [(5,), (5,), (5,)]),
    ("i,i,i,i->", [(5,), (5,), (5,), (5,)]),
    ("...ij,...jk->...ik", [(2, 1, 1), (2, 1, 1)]),
    ("...ij,...jk->...ik", [(3, 3), (3, 3)]),
    ("bbcdc->d", [(1, 1, 3, 1, 3)]),
    ("...ft,mf->...mt", [(2, 3, 5), (4, 3)]),
    ("ijp,ipq,ikq->ijk", [(3, 1, 1), (3, 1, 3), (1, 3, 3)]),
    ("jhcabhijaci,dfijejgh->fgje", [(1, 1, 1, 1, 3, 1, 1, 1, 1, 1, 1), (3, 1, 3, 1, 1, 1, 1, 2)]),
    ("baegffahgc,hdggeff->dhg", [(2, 1, 4, 1, 1, 1, 1, 2, 1, 1), (1, 1, 1, 1, 4, 1, 1)]),
    ("cehgbaifff,fhhdegih->cdghbi", [(1,) * 10, (2, 1, 1, 2, 4, 1, 1, 1)]),
    ("gah,cdbcghefg->ef", [(2, 3, 1), (1, 3, 1, 1, 1, 2, 1, 4, 1)]),
    ("cacc,bcb->", [(1, 1, 1, 1), (1, 4, 1)]),
    ("...a->...a", [(1, 1)]),
]


def _table_shapes(expression: str) -> list[tuple[int, ...]]:
    terms = expression.split("->")[0].split(",")
    return [tuple(SUITE_SIZES[label] for label in term) for term in terms]


def suite_cases() -> list[tuple[str, list[tuple[int, ...]]]]:
    """Every (expression, shapes) of the suites with no axis longer than MAX_AXIS, duplicates dropped."""
    cases = [(expression, _table_shapes(expression)) for expression in TABLE_EXPRESSIONS] + SHAPED_EXPRESSIONS
    unique: dict[tuple[str, tuple[tuple[int, ...], ...]], list[tuple[int, ...]]] = {}
    for expression, shapes in cases:
        if all(size <= MAX_AXIS for shape in shapes for size in shape):
            unique.setdefault((expression, tuple(shapes)), shapes)
    return [(expression, shapes) for (expression, _), shapes in unique.items()]


def all_patterns(count: int) -> list[tuple[bool, ...]]:
    """Every encrypted/plain pattern of ``count`` operands with at least one encrypted."""
    return [pattern for pattern in itertools.product((True, False), repeat=count) if any(pattern)]


def patterns_under_test(count: int, seed: int, sampled: int = 2) -> list[tuple[bool, ...]]:
    """All encrypted, each all-but-one-plain, and ``sampled`` seeded others (all when few)."""
    patterns = all_patterns(count)
    fixed = [tuple([True] * count)] + [tuple(k == j for k in range(count)) for j in range(count)]
    others = [p for p in patterns if p not in fixed]
    if len(others) <= sampled:
        return fixed + others if count > 1 else fixed[:1]
    return fixed + random.Random(seed).sample(others, sampled)


CASES = suite_cases()


@pytest.fixture(scope="module")
def suite_ctx() -> CKKSContext:
    # Depth 8 covers the deepest plan of the suites (6 levels: 5-7 operands, all encrypted).
    return CKKSContext.create(depth=8, simulate=True)


def _operands(shapes: list[tuple[int, ...]], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, shape) for shape in shapes]


def _numpy_refusal(expression: str, arrays: list[np.ndarray]) -> Exception | None:
    try:
        np.einsum(expression, *arrays)
    except ValueError as error:
        return error
    return None


def test_suites_are_collected_with_their_counts() -> None:
    """The fact lists hold what the report counts: 234 cases, 2250 patterns, 13 numpy refusals."""
    assert len(CASES) == 234
    assert sum(len(all_patterns(len(shapes))) for _, shapes in CASES) == 2250
    refused = [expression for expression, shapes in CASES if _numpy_refusal(expression, _operands(shapes, 0))]
    assert len(refused) == 13


@pytest.mark.parametrize(("expression", "shapes"), CASES, ids=[f"{k}:{e}" for k, (e, _) in enumerate(CASES)])
def test_suite_expression_matches_numpy_under_every_tested_pattern(
    suite_ctx: CKKSContext, expression: str, shapes: list[tuple[int, ...]]
) -> None:
    seed = CASES.index((expression, shapes))
    arrays = _operands(shapes, seed)
    refusal = _numpy_refusal(expression, arrays)
    for pattern in patterns_under_test(len(shapes), seed):
        operands = [
            suite_ctx.encrypt(array) if encrypted else array for array, encrypted in zip(arrays, pattern, strict=True)
        ]
        if refusal is not None:
            # numpy (2.x) refuses an explicit output without '...' when '...' covers axes: so must we.
            with pytest.raises(ShapeError, match=r"broadcast axes under '\.\.\.'"):
                einsum(expression, *operands)
            continue
        result = einsum(expression, *operands)
        np.testing.assert_allclose(
            suite_ctx.decrypt(result), np.einsum(expression, *arrays), atol=1e-9, err_msg=f"pattern {pattern}"
        )


@pytest.mark.parametrize(
    ("expression", "shapes", "pattern"),
    [
        ("acdf,jbje,gihb,hfac", _table_shapes("acdf,jbje,gihb,hfac"), (True, True, True, True)),
        (
            "chd,bde,agbc,hiad,bdi,cgh,agdb",
            _table_shapes("chd,bde,agbc,hiad,bdi,cgh,agdb"),
            (True,) * 4 + (False, True, False),
        ),
    ],
)
def test_issue_examples_plan_within_the_tensors_proportions(
    suite_ctx: CKKSContext, expression: str, shapes: list[tuple[int, ...]], pattern: tuple[bool, ...]
) -> None:
    """Once refused ("linear transform needs 20448 diagonals"): now every ciphertext stays small."""
    arrays = _operands(shapes, 7)
    operands = [
        suite_ctx.encrypt(array) if encrypted else array for array, encrypted in zip(arrays, pattern, strict=True)
    ]
    plan = plan_einsum(expression, *operands)
    largest_operand = max(int(np.prod(shape)) for shape in shapes)
    assert max(step.transform.diagonals for step in plan.steps if hasattr(step, "transform")) <= 64 * largest_operand
    np.testing.assert_allclose(
        suite_ctx.decrypt(einsum(expression, *operands)), np.einsum(expression, *arrays), atol=1e-9
    )


REAL_SAMPLE = [
    ("ab,bc,cd", (True, False, True)),
    ("abcd,ea,fb,gc,hd->efgh", (True, False, False, False, False)),
    ("bca,cdb,dbf,afc->", (True, True, False, False)),
    ("...ij,...jk->...ik", (True, True)),
]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["seal", "cross"])
@pytest.mark.parametrize(("expression", "pattern"), REAL_SAMPLE)
def test_suite_sample_under_real_ckks(
    real_ctx: CKKSContext,
    cross_contexts: tuple[CKKSContext, ...],
    engine: str,
    expression: str,
    pattern: tuple[bool, ...],
) -> None:
    """On ``seal`` at N = 16384; on the smallest ``cross`` context deep enough for the expression."""
    shapes = [(2, 1, 3), (3, 3)] if expression.startswith("...") else _table_shapes(expression)
    arrays = _operands(shapes, 3)
    ctx = real_ctx if engine == "seal" else smallest_holding(cross_contexts, expression, arrays, pattern)
    operands = [ctx.encrypt(array) if encrypted else array for array, encrypted in zip(arrays, pattern, strict=True)]
    result = ctx.decrypt(einsum(expression, *operands))
    np.testing.assert_allclose(result, np.einsum(expression, *arrays), atol=1e-3)


@pytest.mark.parametrize(
    ("expression", "pattern"),
    [("ab,ab,cd,cd->", (False, True, False, True)), ("ab,ab,cd,cd->cd", (True, False, False, True))],
)
def test_separate_plaintexts_in_parallel_branches_keep_their_depth(
    suite_ctx: CKKSContext, expression: str, pattern: tuple[bool, ...]
) -> None:
    """Two levels by hand: each ciphertext meets its own plaintext (in parallel), then the two meet.

    Contracting the plaintexts first would join them into one outer product and cost a third level.
    """
    shapes = _table_shapes(expression)
    arrays = _operands(shapes, 11)
    operands = [
        suite_ctx.encrypt(array) if encrypted else array for array, encrypted in zip(arrays, pattern, strict=True)
    ]
    assert plan_einsum(expression, *operands).depth == 2
    np.testing.assert_allclose(
        suite_ctx.decrypt(einsum(expression, *operands)), np.einsum(expression, *arrays), atol=1e-9
    )
