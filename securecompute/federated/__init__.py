"""Federated learning that survives faults: robust aggregation under attack, asynchronous training.

Modules (import them directly; this package imports nothing heavy on its own):

- :mod:`securecompute.federated.aggregators`: ``get_aggregator(name, **params)``, the registry of robust
  aggregation rules over an ``(n, d)`` array of worker updates (mean, median, trimmed mean, MeaMed, Phocas,
  Krum, Multi-Krum, geometric median, centered clipping, Bulyan, NNM pre-aggregation, Flag Aggregator).
- :mod:`securecompute.federated.flag`: the Flag Aggregator (Almasi et al., ICLR 2024) through a p x p Gram
  matrix.
- :mod:`securecompute.federated.attacks`: ``get_attack(name, **params)``, the registry of Byzantine attacks.
- :mod:`securecompute.federated.data`: the bundled digits data, a seeded split, IID and Dirichlet partitions.
- :mod:`securecompute.federated.models`: numpy logistic regression and a one-hidden-layer MLP with
  hand-written gradients over flat parameter vectors.
- :mod:`securecompute.federated.simulation`: ``run_byzantine(...)``, synchronous training with Byzantine
  workers, returning a ``ByzantineHistory`` (accuracy, loss, dropped NaN/inf vectors, aggregation seconds, plot).
- :mod:`securecompute.federated.fedfix`: ``simulate_async(...)``, asynchronous training on a virtual event
  clock (FedAvg, async, FedFix, FedBuff; :mod:`.policies`, :mod:`.client_times` and :mod:`.availability`),
  returning an ``AsyncHistory`` (:mod:`.async_history`).
- :mod:`securecompute.federated.frag`: ``Querier`` and ``Party``, federated nearest-neighbour search over an
  encrypted query (one CKKS key per querier, column-packed scoring, party-local IVF, leakage report).
- :mod:`securecompute.federated.executors`: where worker computations run: ``LocalExecutor`` (in process)
  or ``RayExecutor`` (a Ray actor pool, extra ``[ray]``), with identical results.
- :mod:`securecompute.federated.flower`: ``RobustStrategy``, any of these rules as a Flower strategy (extra
  ``[flower]``), aggregating update deltas and never weighting by client-reported example counts.
- :mod:`securecompute.federated.commands`: ``securecompute simulate byzantine|async`` and the demo-tour step.
"""
