r"""Small numpy classifiers with hand-written gradients, over flat parameter vectors.

A model object holds only its shape (features, classes, hidden units) and its L2 weight; the parameters are
one flat float64 vector ``params`` of length :attr:`~Model.size`, so that workers, attacks and aggregators
all see the same ``(d,)`` vectors.  :meth:`~Model.unpack` splits ``params`` into the weight arrays (views,
so writing into them sets the parameters) and :meth:`~Model.pack` flattens arrays back.

Loss on a batch (X, y) with n rows: softmax cross-entropy of the logits plus (l2 / 2) ||weights||^2
(biases are not penalised),

    L = -(1/n) sum_r log softmax(z_r)[y_r] + (l2 / 2) sum ||W||^2,

and dL/dz = (softmax(z) - onehot(y)) / n.

- :class:`LogisticRegression`: z = X W + b, W (features x classes), b (classes); params = [W.ravel(), b];
  dL/dW = X^T dz + l2 W, dL/db = sum_r dz_r.
- :class:`MLP`: one hidden layer, h = relu(X W1 + b1), z = h W2 + b2; params = [W1, b1, W2, b2] raveled;
  backprop: dW2 = h^T dz + l2 W2, db2 = sum dz, dh = dz W2^T, da = dh * [X W1 + b1 > 0],
  dW1 = X^T da + l2 W1, db1 = sum da.  Initialised with He-normal W1, Glorot-normal W2, zero biases.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from securecompute.errors import ParameterError, ShapeError
from securecompute.federated._checks import FloatArray, check_int, check_positive
from securecompute.randomness import Seed, as_generator

__all__ = ["MLP", "MODELS", "LogisticRegression", "Model", "get_model"]


class Model:
    """A classifier over a flat parameter vector; subclasses define the layout and the forward/backward pass."""

    name = "model"

    def __init__(self, features: int, classes: int, l2: float = 1e-4) -> None:
        self.features = check_int("features", features, 1)
        self.classes = check_int("classes", classes, 2)
        self.l2 = check_positive("l2", l2, allow_zero=True)

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Shapes of the weight arrays, in the order they are stored in ``params``."""
        raise NotImplementedError

    @property
    def size(self) -> int:
        """Length d of the flat parameter vector."""
        return sum(math.prod(shape) for shape in self.shapes)

    def unpack(self, params: npt.ArrayLike) -> list[FloatArray]:
        """Views of ``params`` as the weight arrays (writing into them writes into ``params``)."""
        vector = self._check_params(params)
        arrays: list[FloatArray] = []
        start = 0
        for shape in self.shapes:
            count = math.prod(shape)
            arrays.append(vector[start : start + count].reshape(shape))
            start += count
        return arrays

    def pack(self, arrays: list[FloatArray]) -> FloatArray:
        """Flatten weight arrays (in :attr:`shapes` order) into one parameter vector."""
        if len(arrays) != len(self.shapes) or any(np.shape(a) != s for a, s in zip(arrays, self.shapes, strict=False)):
            raise ShapeError(f"{self.name} expects arrays of shapes {self.shapes}")
        return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])

    def init_params(self, seed: Seed = 0) -> FloatArray:
        """A fresh parameter vector (zeros for logistic regression, random weights for the MLP)."""
        raise NotImplementedError

    def logits(self, params: npt.ArrayLike, x: npt.ArrayLike) -> FloatArray:
        """The class scores z for the rows of ``x``."""
        raise NotImplementedError

    def loss_and_gradient(self, params: npt.ArrayLike, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[float, FloatArray]:
        """The loss L on the batch (x, y) and its gradient dL/dparams, a ``(d,)`` vector."""
        raise NotImplementedError

    def gradient(self, params: npt.ArrayLike, x: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
        """dL/dparams on the batch (x, y)."""
        return self.loss_and_gradient(params, x, y)[1]

    def loss(self, params: npt.ArrayLike, x: npt.ArrayLike, y: npt.ArrayLike) -> float:
        """Mean softmax cross-entropy on (x, y) plus the L2 term."""
        features, labels = self._check_batch(x, y)
        scores = self.logits(params, features)
        return _cross_entropy(scores, labels) + self._penalty(params)

    def predict(self, params: npt.ArrayLike, x: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The most likely class of each row of ``x``."""
        return np.asarray(np.argmax(self.logits(params, x), axis=1), dtype=np.int64)

    def accuracy(self, params: npt.ArrayLike, x: npt.ArrayLike, y: npt.ArrayLike) -> float:
        """Fraction of rows of ``x`` whose predicted class is ``y``."""
        features, labels = self._check_batch(x, y)
        return float(np.mean(self.predict(params, features) == labels))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(features={self.features}, classes={self.classes}, l2={self.l2})"

    def _weights(self, params: npt.ArrayLike) -> list[FloatArray]:
        """The penalised arrays (biases excluded)."""
        raise NotImplementedError

    def _penalty(self, params: npt.ArrayLike) -> float:
        return 0.5 * self.l2 * sum(float(np.sum(w * w)) for w in self._weights(params))

    def _check_params(self, params: npt.ArrayLike) -> FloatArray:
        vector = np.asarray(params, dtype=np.float64)
        if vector.shape != (self.size,):
            raise ShapeError(f"{self.name} needs a parameter vector of shape ({self.size},), got {vector.shape}")
        return vector

    def _check_batch(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        features = np.asarray(x, dtype=np.float64)
        labels = np.asarray(y)
        if features.ndim != 2 or features.shape[1] != self.features or features.shape[0] == 0:
            raise ShapeError(f"{self.name} needs x of shape (n >= 1, {self.features}), got {features.shape}")
        if labels.shape != (features.shape[0],):
            raise ShapeError(f"y must have shape ({features.shape[0]},), got {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= self.classes):
            raise ParameterError(f"labels must lie in [0, {self.classes}), got {labels.min()}..{labels.max()}")
        return features, labels.astype(np.int64)


class LogisticRegression(Model):
    """Multinomial logistic regression: z = X W + b (module docstring for the gradient)."""

    name = "logreg"

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [(self.features, self.classes), (self.classes,)]

    def init_params(self, seed: Seed = 0) -> FloatArray:
        as_generator(seed)
        return np.zeros(self.size)

    def logits(self, params: npt.ArrayLike, x: npt.ArrayLike) -> FloatArray:
        weights, bias = self.unpack(params)
        return np.asarray(np.asarray(x, dtype=np.float64) @ weights + bias)

    def loss_and_gradient(self, params: npt.ArrayLike, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[float, FloatArray]:
        features, labels = self._check_batch(x, y)
        weights, bias = self.unpack(params)
        scores = features @ weights + bias
        loss, delta = _softmax_cross_entropy(scores, labels)
        grad_w = features.T @ delta + self.l2 * weights
        grad_b = delta.sum(axis=0)
        return loss + self._penalty(params), self.pack([grad_w, grad_b])

    def _weights(self, params: npt.ArrayLike) -> list[FloatArray]:
        return [self.unpack(params)[0]]


class MLP(Model):
    """One hidden ReLU layer of ``hidden`` units, softmax output (module docstring for the backprop)."""

    name = "mlp"

    def __init__(self, features: int, classes: int, hidden: int = 32, l2: float = 1e-4) -> None:
        super().__init__(features, classes, l2)
        self.hidden = check_int("hidden", hidden, 1)

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [(self.features, self.hidden), (self.hidden,), (self.hidden, self.classes), (self.classes,)]

    def init_params(self, seed: Seed = 0) -> FloatArray:
        generator = as_generator(seed)
        w1 = generator.normal(0.0, np.sqrt(2.0 / self.features), (self.features, self.hidden))
        w2 = generator.normal(0.0, np.sqrt(2.0 / (self.hidden + self.classes)), (self.hidden, self.classes))
        return self.pack([w1, np.zeros(self.hidden), w2, np.zeros(self.classes)])

    def logits(self, params: npt.ArrayLike, x: npt.ArrayLike) -> FloatArray:
        w1, b1, w2, b2 = self.unpack(params)
        hidden = np.maximum(np.asarray(x, dtype=np.float64) @ w1 + b1, 0.0)
        return np.asarray(hidden @ w2 + b2)

    def loss_and_gradient(self, params: npt.ArrayLike, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[float, FloatArray]:
        features, labels = self._check_batch(x, y)
        w1, b1, w2, b2 = self.unpack(params)
        pre = features @ w1 + b1
        hidden = np.maximum(pre, 0.0)
        loss, delta = _softmax_cross_entropy(hidden @ w2 + b2, labels)
        grad_w2 = hidden.T @ delta + self.l2 * w2
        grad_b2 = delta.sum(axis=0)
        back = (delta @ w2.T) * (pre > 0)
        grad_w1 = features.T @ back + self.l2 * w1
        grad_b1 = back.sum(axis=0)
        return loss + self._penalty(params), self.pack([grad_w1, grad_b1, grad_w2, grad_b2])

    def __repr__(self) -> str:
        return f"MLP(features={self.features}, classes={self.classes}, hidden={self.hidden}, l2={self.l2})"

    def _weights(self, params: npt.ArrayLike) -> list[FloatArray]:
        w1, _, w2, _ = self.unpack(params)
        return [w1, w2]


MODELS: dict[str, type[Model]] = {"logreg": LogisticRegression, "mlp": MLP}
"""Registry: model name -> class."""


def get_model(name: str, features: int, classes: int, **params: float | int) -> Model:
    """Build the model called ``name`` (a key of :data:`MODELS`) for ``features`` inputs and ``classes``.

    Raises:
        ParameterError: unknown name or a bad parameter.
    """
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in MODELS:
        raise ParameterError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    try:
        return MODELS[key](features, classes, **params)
    except TypeError as error:
        raise ParameterError(f"model {key!r} does not take {sorted(params)}: {error}") from error


def _log_softmax(scores: FloatArray) -> FloatArray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    return np.asarray(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))


def _cross_entropy(scores: FloatArray, labels: npt.NDArray[np.int64]) -> float:
    log_probabilities = _log_softmax(scores)
    return float(-np.mean(log_probabilities[np.arange(labels.size), labels]))


def _softmax_cross_entropy(scores: FloatArray, labels: npt.NDArray[np.int64]) -> tuple[float, FloatArray]:
    """Mean cross-entropy and its gradient with respect to the scores, (softmax - onehot) / n."""
    log_probabilities = _log_softmax(scores)
    rows = np.arange(labels.size)
    loss = float(-np.mean(log_probabilities[rows, labels]))
    delta = np.exp(log_probabilities)
    delta[rows, labels] -= 1.0
    return loss, np.asarray(delta / labels.size)
