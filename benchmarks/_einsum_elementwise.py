"""Baselines: TenSEAL CKKSTensor (one ciphertext per element) and naive per-element CKKS."""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import tenseal as ts
from _common import median
from _einsum_cases import Case, Settings, max_error
from _einsum_vector import _product


# ----------------------------------------------------------------------------- TenSEAL CKKSTensor
class NotExpressibleError(Exception):
    pass


def merge_orders(first: str, second: str) -> str | None:
    """An order of all labels that keeps the order of both strings, or None if they conflict."""
    labels = list(dict.fromkeys(first + second))
    before = {label: set() for label in labels}
    for word in (first, second):
        for a, b in itertools.pairwise(word):
            before[b].add(a)
    order: list[str] = []
    while len(order) < len(labels):
        ready = [label for label in labels if label not in order and before[label] <= set(order)]
        if not ready:
            return None
        order.append(ready[0])
    return "".join(order)


@dataclass
class TensorStep:
    operands: tuple[int, int]
    joint: str
    result: str
    transpose: tuple[bool, bool]


def tensor_steps(case: Case) -> list[TensorStep]:
    """Pairwise contractions (the order with the fewest index combinations) with a joint label order each."""
    if len(case.inputs) == 1:
        return []
    options = [_steps_in_order(case, first) for first in itertools.combinations(range(len(case.inputs)), 2)]
    expressible = [steps for steps in options if steps is not None]
    if not expressible:
        raise NotExpressibleError("no pairwise order whose axes CKKSTensor can line up (it has no general permute)")
    return min(expressible, key=lambda steps: sum(math.prod(case.sizes[x] for x in step.joint) for step in steps))


def _steps_in_order(case: Case, first: tuple[int, int]) -> list[TensorStep] | None:
    labels, encrypted = list(case.inputs), list(case.encrypted)
    steps = []
    pair = first
    while len(labels) > 1:
        a, b = pair
        rest = [labels[k] for k in range(len(labels)) if k not in (a, b)]
        keep = set(case.output) | set("".join(rest))
        la, lb = labels[a], labels[b]
        flips = (False, False)
        if encrypted[a] and encrypted[b]:
            # CKKSTensor has reshape, broadcast and transpose (reversal of all axes) but no general permute.
            joint = None
            for flip_a, flip_b in ((False, False), (True, False), (False, True), (True, True)):
                joint = merge_orders(la[::-1] if flip_a else la, lb[::-1] if flip_b else lb)
                if joint is not None:
                    flips = (flip_a, flip_b)
                    break
            if joint is None:
                return None
        else:
            ct, pt = (la, lb) if encrypted[a] else (lb, la)
            joint = ct + "".join(label for label in pt if label not in ct)
        result = "".join(label for label in joint if label in keep)
        steps.append(TensorStep((a, b), joint, result, flips))
        labels = [*rest, result]
        encrypted = [e for k, e in enumerate(encrypted) if k not in (a, b)] + [encrypted[a] or encrypted[b]]
        pair = (0, 1)
    return steps


def slice_sizes(case: Case, steps: list[TensorStep], cap: int) -> dict[str, int]:
    """Label sizes, halved (largest first) until every contraction has at most ``cap`` combinations."""
    sizes = dict(case.sizes)
    groups = [step.joint for step in steps] or [case.inputs[0]]
    while True:
        worst = max(groups, key=lambda g: math.prod(sizes[label] for label in g))
        if math.prod(sizes[label] for label in worst) <= cap:
            return sizes
        largest = max(worst, key=lambda label: sizes[label])
        sizes[largest] = (sizes[largest] + 1) // 2


def _expand(tensor: Any, labels: str, joint: str, sizes: dict[str, int]) -> Any:
    """Reshape + broadcast an encrypted tensor whose labels keep the joint order (in place)."""
    target = [sizes[label] for label in joint]
    with_ones = [sizes[label] if label in labels else 1 for label in joint]
    if list(tensor.shape) != with_ones:
        tensor.reshape_(with_ones)
    if with_ones != target:
        tensor.broadcast_(target)
    return tensor


def _plain_expand(values: np.ndarray, labels: str, joint: str) -> np.ndarray:
    present = [label for label in joint if label in labels]
    moved = values.transpose([labels.index(label) for label in present])
    shape = [values.shape[labels.index(label)] if label in labels else 1 for label in joint]
    return moved.reshape(shape)


def run_tensor(case: Case, arrays: list[np.ndarray], ctx: Any, settings: Settings) -> dict[str, Any]:
    try:
        steps = tensor_steps(case)
    except NotExpressibleError as error:
        return {"status": "not expressible", "seconds": None, "note": str(error)}
    full_sizes = case.sizes
    sizes = slice_sizes(case, steps, settings.tensor_cap)
    sliced = [
        a[tuple(slice(0, sizes[label]) for label in labels)] for a, labels in zip(arrays, case.inputs, strict=True)
    ]
    expected = np.einsum(case.expression, *sliced)
    is_full = sizes == full_sizes
    repeats = settings.repeats if is_full else 1
    labels = list(case.inputs)
    values: list[Any] = [ts.ckks_tensor(ctx, a) if enc else a for a, enc in zip(sliced, case.encrypted, strict=True)]
    timings: list[float] = []
    notes: list[str] = []
    for _ in range(repeats):
        work = [v.copy() if isinstance(v, ts.CKKSTensor) else v for v in values]
        work_labels = list(labels)
        estimate = 0.0
        spent = 0.0
        for step in steps:
            a, b = step.operands
            items = [(work[a], work_labels[a], step.transpose[0]), (work[b], work_labels[b], step.transpose[1])]
            prepared = []
            for value, item_labels, flip in items:
                if isinstance(value, np.ndarray):
                    prepared.append(
                        (
                            "pt",
                            ts.plain_tensor(
                                np.ascontiguousarray(
                                    np.broadcast_to(
                                        _plain_expand(value, item_labels, step.joint), [sizes[x] for x in step.joint]
                                    )
                                )
                            ),
                            item_labels,
                            flip,
                        )
                    )
                else:
                    prepared.append(("ct", value, item_labels, flip))
            start = time.perf_counter()
            cts = []
            for kind, value, item_labels, flip in prepared:
                if kind == "ct":
                    if flip:
                        value = value.transpose()
                        item_labels = item_labels[::-1]
                    cts.append(_expand(value, item_labels, step.joint, sizes))
            plains = [value for kind, value, _, _ in prepared if kind == "pt"]
            result = _product(*cts, *plains)
            for axis in sorted((k for k, label in enumerate(step.joint) if label not in step.result), reverse=True):
                result.sum_(axis)
            seconds = time.perf_counter() - start
            spent += seconds
            joint_full = math.prod(full_sizes[label] for label in step.joint)
            joint_slice = math.prod(sizes[label] for label in step.joint)
            estimate += seconds * joint_full / joint_slice
            work = [w for k, w in enumerate(work) if k not in (a, b)] + [result]
            work_labels = [w for k, w in enumerate(work_labels) if k not in (a, b)] + [step.result]
        final, final_labels = work[0], work_labels[0]
        start = time.perf_counter()
        n_full = math.prod(full_sizes[label] for label in final_labels) or 1
        n_slice = math.prod(sizes[label] for label in final_labels) or 1
        if not steps:  # single operand: sum the axes not in the output
            n_full = math.prod(full_sizes[label] for label in case.inputs[0])
            n_slice = math.prod(sizes[label] for label in case.inputs[0])
            for axis in sorted((k for k, label in enumerate(final_labels) if label not in case.output), reverse=True):
                final.sum_(axis)
            final_labels = "".join(label for label in final_labels if label in case.output)
        if final_labels != case.output and final_labels[::-1] == case.output:
            final = final.transpose()
            final_labels = final_labels[::-1]
        seconds = time.perf_counter() - start
        spent += seconds
        estimate += seconds * n_full / n_slice
        timings.append(spent if is_full else estimate)
    decrypted = np.asarray(final.decrypt().tolist(), dtype=np.float64).reshape([sizes[label] for label in final_labels])
    if final_labels != case.output:
        decrypted = decrypted.transpose([final_labels.index(label) for label in case.output])
        notes.append(f"result axes ({final_labels}) permuted to ({case.output}) after decryption")
    record = {
        "method": "reshape/broadcast/mul/sum"
        + (" (pairwise: " + "; ".join(f"{s.joint}->{s.result}" for s in steps) + ")" if steps else ""),
        "status": "measured" if is_full else "extrapolated",
        "seconds": median(timings),
        "slice_sizes": sizes,
        "max_abs_error": max_error(decrypted, expected),
        "note": "; ".join(
            [*([] if is_full else [f"timed on a slice {sizes}, scaled by index combinations per step"]), *notes]
        ),
    }
    if is_full:
        record["latencies_s"] = timings
    return record


# ----------------------------------------------------------------------------- naive per element
def run_naive(case: Case, arrays: list[np.ndarray], ctx: Any, settings: Settings) -> dict[str, Any]:
    sizes, out, ins = case.sizes, case.output, case.inputs
    reduced = "".join(label for label in case.joint if label not in out)
    out_shape = [sizes[label] for label in out]
    red_shape = [sizes[label] for label in reduced]
    n_out, n_red, k = math.prod(out_shape), math.prod(red_shape), len(arrays)
    total_terms = n_out * n_red
    mults_total, adds_total = total_terms * (k - 1), total_terms - n_out
    scalars_total = sum(a.size for a, enc in zip(arrays, case.encrypted, strict=True) if enc)
    method = f"one CKKSVector per scalar; {mults_total} ct mults, {adds_total} adds"
    if mults_total == 0 and adds_total == 0:
        note = "no arithmetic: each output ciphertext is an input ciphertext"
        return {"method": method, "status": "measured", "seconds": 0.0, "max_abs_error": None, "note": note}
    cache: dict[tuple[int, tuple[int, ...]], Any] = {}
    clock = {"mult": 0.0, "add": 0.0, "encrypt": 0.0}
    count = {"mult": 0, "add": 0, "terms": 0}
    checks: list[tuple[Any, float]] = []
    full = False
    stopped = False
    wall_start = time.perf_counter()

    def factor(p: int, index: tuple[int, ...]) -> Any:
        if not case.encrypted[p]:
            return float(arrays[p][index])
        key = (p, index)
        if key not in cache:
            start = time.perf_counter()
            cache[key] = ts.ckks_vector(ctx, [float(arrays[p][index])])
            clock["encrypt"] += time.perf_counter() - start
        return cache[key]

    def estimate() -> float:
        mult = clock["mult"] / count["mult"] * mults_total if count["mult"] else 0.0
        add = clock["add"] / count["add"] * adds_total if count["add"] else 0.0
        return mult + add

    def sampled_enough() -> bool:
        ops = clock["mult"] + clock["add"]
        wall = time.perf_counter() - wall_start
        have_rates = (count["mult"] > 0 or mults_total == 0) and (count["add"] > 0 or adds_total == 0)
        return have_rates and (ops >= settings.naive_sample_s or wall >= 4 * settings.naive_sample_s)

    for o in np.ndindex(*out_shape):
        accumulator: Any = None
        partial = 0.0
        for r in np.ndindex(*red_shape):
            if not full and sampled_enough():
                per_scalar = clock["encrypt"] / max(1, len(cache))
                remaining = estimate() - clock["mult"] - clock["add"] + per_scalar * (scalars_total - len(cache))
                if time.perf_counter() - wall_start + remaining <= settings.naive_full_s:
                    full = True
                else:
                    stopped = True
                    break
            where = dict(zip(out, o, strict=True)) | dict(zip(reduced, r, strict=True))
            indices = [tuple(where[label] for label in labels) for labels in ins]
            factors = [factor(p, idx) for p, idx in enumerate(indices)]
            partial += math.prod(float(arrays[p][idx]) for p, idx in enumerate(indices))
            start = time.perf_counter()
            term = _product(*factors)
            clock["mult"] += time.perf_counter() - start
            count["mult"] += k - 1
            count["terms"] += 1
            if accumulator is None:
                accumulator = term
            else:
                start = time.perf_counter()
                accumulator = accumulator + term
                clock["add"] += time.perf_counter() - start
                count["add"] += 1
        if accumulator is not None:
            checks.append((accumulator, partial))
        if stopped:
            break
    error = max((abs(acc.decrypt()[0] - want) for acc, want in checks), default=None)
    record: dict[str, Any] = {
        "method": method,
        "terms_done": count["terms"],
        "terms_total": total_terms,
        "max_abs_error": error,
        "outputs_checked": len(checks),
        "encrypted_scalars": len(cache),
        "seconds_per_mult": clock["mult"] / count["mult"] if count["mult"] else None,
        "seconds_per_add": clock["add"] / count["add"] if count["add"] else None,
        "encrypt_s": clock["encrypt"],
    }
    if stopped:
        note = f"timed {count['mult']} mults and {count['add']} adds on {len(checks)} output(s), scaled to all"
        record.update(status="extrapolated", seconds=estimate(), note=note)
    else:
        record.update(status="measured", seconds=clock["mult"] + clock["add"], note="full run")
    cache.clear()
    return record
