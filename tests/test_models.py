"""The CNNs, written as im2col + matrix products or with ``lax.conv_general_dilated``, are the paper's CNNs.

Checked against an independent reference built from ``lax.conv_general_dilated``
and ``lax.reduce_window`` on the same parameters (forward and gradients, float32
tolerance), against ``nn.Conv`` / ``nn.Dense`` modules for the parameter tree and
its initial values, under ``vmap`` over seeds, and the two convolution paths
(``conv="im2col"``, ``conv="lax"``) against each other.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from attnjax.errors import ConfigError
from attnjax.layers import CLASSIFIER_INITS, im2col, max_pool_2x2
from attnjax.models import PRECISIONS, make_models

HIGHEST = lax.Precision.HIGHEST
SHAPES = [(28, 28, 1), (21, 19, 2)]  # Fashion-MNIST, odd sizes (CIFAR's 32x32x3 in the tree test)
SMALL = (18, 18, 1)  # the smallest image the paper's CNNs take: cheap where the size is not the point


def _conv(x, kernel, bias=None):
    y = lax.conv_general_dilated(x, kernel, (1, 1), "VALID",
                                 dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=HIGHEST)
    return y if bias is None else y + bias


def _pool(x):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def _dense_head(p, h, n, use_bias):
    h = h.reshape(h.shape[0], -1)
    for i in range(n):
        if i:
            h = jax.nn.relu(h)
        layer = p[f"Dense_{i}"]
        h = jnp.dot(h, layer["kernel"], precision=HIGHEST)
        if use_bias:
            h = h + layer["bias"]
    return h


def reference_focus(params, x):
    """The paper's focus CNN: conv-ReLU-pool x2, conv-ReLU, dense 512-64-10-1 (no biases)."""
    p = params["params"]
    h = _pool(jax.nn.relu(_conv(x, p["Conv_0"]["kernel"])))
    h = _pool(jax.nn.relu(_conv(h, p["Conv_1"]["kernel"])))
    h = jax.nn.relu(_conv(h, p["Conv_2"]["kernel"]))
    return _dense_head(p, h, 4, use_bias=False)[:, 0]


def reference_lenet(params, x):
    """The paper's LeNet: conv-ReLU-pool x2, dense 120-84-10-K."""
    p = params["params"]
    h = _pool(jax.nn.relu(_conv(x, p["Conv_0"]["kernel"], p["Conv_0"]["bias"])))
    h = _pool(jax.nn.relu(_conv(h, p["Conv_1"]["kernel"], p["Conv_1"]["bias"])))
    return _dense_head(p, h, 4, use_bias=True)


class FlaxFocus(nn.Module):
    """The focus CNN's parameters declared with nn.Conv / nn.Dense (the tree to keep)."""

    @nn.compact
    def __call__(self, x):
        conv = dict(kernel_size=(3, 3), padding="VALID", use_bias=False,
                    kernel_init=nn.initializers.xavier_uniform())
        h = nn.max_pool(nn.relu(nn.Conv(32, **conv)(x)), (2, 2), strides=(2, 2))
        h = nn.max_pool(nn.relu(nn.Conv(64, **conv)(h)), (2, 2), strides=(2, 2))
        h = nn.relu(nn.Conv(64, **conv)(h)).reshape(x.shape[0], -1)
        for width in (512, 64, 10):
            h = nn.relu(nn.Dense(width, use_bias=False,
                                 kernel_init=nn.initializers.xavier_uniform())(h))
        return nn.Dense(1, use_bias=False, kernel_init=nn.initializers.xavier_uniform())(h)


class FlaxLeNet(nn.Module):
    num_classes: int
    weight_init: str

    @nn.compact
    def __call__(self, x):
        k = CLASSIFIER_INITS[self.weight_init]
        conv = dict(kernel_size=(5, 5), padding="VALID", kernel_init=k)
        h = nn.max_pool(nn.relu(nn.Conv(6, **conv)(x)), (2, 2), strides=(2, 2))
        h = nn.max_pool(nn.relu(nn.Conv(16, **conv)(h)), (2, 2), strides=(2, 2))
        h = h.reshape(x.shape[0], -1)
        for width in (120, 84, 10):
            h = nn.relu(nn.Dense(width, kernel_init=k)(h))
        return nn.Dense(self.num_classes, kernel_init=k)(h)


def _cnns(shape, init="uniform", precision="float32", conv="im2col"):
    return make_models("cnn", num_classes=3, segment_shape=shape, classifier_init=init,
                       precision=precision, conv=conv)[1:]  # (focus, classifier): the CNNs have no encoder


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def _nonzero_biases(params, key):
    """Random biases, so that the test sees them (they start at zero)."""
    leaves, tree = jax.tree_util.tree_flatten_with_path(params)
    keys = jax.random.split(key, len(leaves))
    out = [0.1 * jax.random.normal(k, v.shape) if "bias" in jax.tree_util.keystr(path) else v
           for (path, v), k in zip(leaves, keys)]
    return jax.tree_util.tree_unflatten(tree, out)


@pytest.mark.parametrize("shape", [(32, 32, 3), (21, 19, 2)])  # CIFAR: the paper's 1024 and 400 sizes
@pytest.mark.parametrize("init", sorted(CLASSIFIER_INITS))
def test_parameter_tree_and_initial_values_are_nn_conv_and_nn_dense(shape, init):
    focus, classifier = _cnns(shape, init)
    x = jnp.zeros((1,) + shape)
    key = jax.random.key(7)
    for ours, theirs in ((focus, FlaxFocus()), (classifier, FlaxLeNet(3, init))):
        p, q = ours.init(key, x), theirs.init(key, x)
        assert jax.tree_util.tree_structure(p) == jax.tree_util.tree_structure(q)
        for a, b in zip(jax.tree_util.tree_leaves(p), jax.tree_util.tree_leaves(q)):
            assert a.shape == b.shape and a.dtype == b.dtype == jnp.float32
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape", SHAPES)
def test_forward_and_gradients_match_lax_reference(shape):
    focus, classifier = _cnns(shape)
    x = jax.random.normal(jax.random.key(0), (6,) + shape)
    pf = focus.init(jax.random.key(1), x)
    pc = _nonzero_biases(classifier.init(jax.random.key(2), x), jax.random.key(3))
    for model, params, ref in ((focus, pf, reference_focus), (classifier, pc, reference_lenet)):
        out = model.apply(params, x)
        want = ref(params, x)
        assert out.dtype == jnp.float32 and out.shape == want.shape
        assert _rel(out, want) < 1e-5

        def objective(f):
            return lambda p, x: jnp.sum(jnp.sin(3.0 * f(p, x)))  # a non-trivial cotangent

        got = jax.grad(objective(model.apply), argnums=(0, 1))(params, x)
        exp = jax.grad(objective(ref), argnums=(0, 1))(params, x)
        for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(exp)):
            assert _rel(a, b) < 1e-5


def test_vmap_over_seeds_equals_each_seed():
    """vmap over seeds (batched parameters, shared or batched input) changes no number."""
    focus, classifier = _cnns(SMALL)
    x = jax.random.normal(jax.random.key(0), (5,) + SMALL)
    keys = jax.random.split(jax.random.key(1), 3)
    for model in (focus, classifier):
        params = jax.vmap(lambda k, model=model: model.init(k, x))(keys)
        loss = lambda p, x, model=model: jnp.sum(model.apply(p, x) ** 2)  # noqa: E731
        shared = jax.vmap(jax.value_and_grad(loss), in_axes=(0, None))(params, x)
        xs = jnp.stack([x * (s + 1) for s in range(3)])
        batched = jax.vmap(jax.value_and_grad(loss))(params, xs)
        for s in range(3):
            p = jax.tree_util.tree_map(lambda a, s=s: a[s], params)
            for out, xx in ((shared, x), (batched, xs[s])):
                one = jax.value_and_grad(loss)(p, xx)
                for a, b in zip(jax.tree_util.tree_leaves(one),
                                jax.tree_util.tree_leaves(jax.tree_util.tree_map(
                                    lambda a, s=s: a[s], out))):
                    assert _rel(a, b) < 1e-5


def test_im2col_and_pool_pieces():
    x = jax.random.normal(jax.random.key(0), (2, 7, 6, 3))
    k = jax.random.normal(jax.random.key(1), (3, 2, 3, 4))
    patches = im2col(x, (3, 2))
    assert patches.shape == (2, 5, 5, 18)
    ours = jnp.dot(patches, k.reshape(-1, 4), precision=HIGHEST)
    assert _rel(ours, _conv(x, k)) < 1e-6
    np.testing.assert_array_equal(max_pool_2x2(x), _pool(x))  # odd trailing rows dropped
    g = jax.grad(lambda x: jnp.sum(jnp.cos(max_pool_2x2(x))))(x)
    np.testing.assert_allclose(g, jax.grad(lambda x: jnp.sum(jnp.cos(_pool(x))))(x), rtol=1e-6)


def test_pool_tie_at_zero_gets_no_gradient_through_relu():
    """relu after the pool: a window of non-positive values passes no gradient, as before."""
    x = jnp.zeros((1, 2, 2, 1)).at[0, 0, 1, 0].set(-1.0)
    g = jax.grad(lambda x: jnp.sum(jax.nn.relu(max_pool_2x2(x))))(x)
    np.testing.assert_array_equal(g, 0.0)


@pytest.mark.parametrize("conv", ["im2col", "lax"])
@pytest.mark.parametrize("precision", PRECISIONS)
def test_precisions_keep_parameters_and_float32_outputs(precision, conv):
    """Every precision on both convolution paths: the float32 parameters, float32 outputs and
    gradients, and outputs near the float32 model's (bfloat16 to its 8-bit mantissa)."""
    shape = SMALL
    x = jax.random.normal(jax.random.key(0), (4,) + shape)
    for exact, model in zip(_cnns(shape), _cnns(shape, precision=precision, conv=conv)):
        params = exact.init(jax.random.key(1), x)
        tree = jax.tree_util.tree_structure(model.init(jax.random.key(1), x))
        assert tree == jax.tree_util.tree_structure(params)
        out = model.apply(params, x)
        assert out.dtype == jnp.float32
        grads = jax.grad(lambda p, model=model: jnp.sum(model.apply(p, x)))(params)
        assert all(g.dtype == jnp.float32 for g in jax.tree_util.tree_leaves(grads))
        tol = 5e-2 if precision == "bfloat16" else 1e-5  # tf32 is float32 on CPU
        if precision != "tensorfloat32" or jax.default_backend() == "cpu":
            assert _rel(out, exact.apply(params, x)) < tol


@pytest.mark.parametrize("family", ["linear", "mlp"])
@pytest.mark.parametrize("precision", PRECISIONS)
def test_precision_applies_to_every_family(family, precision):
    _, focus, classifier = make_models(family, num_classes=3, segment_shape=(4, 4, 1),
                                       precision=precision)
    x = jax.random.normal(jax.random.key(0), (3, 4, 4, 1))
    for model in (focus, classifier):
        assert model.apply(model.init(jax.random.key(1), x), x).dtype == jnp.float32


def test_unknown_precision_is_a_config_error():
    with pytest.raises(ConfigError, match="precision"):
        make_models("cnn", num_classes=3, segment_shape=(28, 28, 1), precision="float16")


@pytest.mark.parametrize("shape", SHAPES)
def test_the_two_convolution_paths_have_one_parameter_tree_and_agree(shape):
    """``conv="lax"`` against ``conv="im2col"``: the same parameter tree and initial values for a key,
    and outputs and gradients (parameters and input) within 1e-5 of each other, in float32.

    The tolerance: both paths compute the same sums of products in float32 in different orders
    (a GEMM over the kh*kw*C patch axis against XLA's convolution kernel), so they differ by
    rounding: each sum has up to 3*3*64 = 576 terms and the focus CNN stacks seven layers, and
    the measured differences are 3e-7 to 3e-6 of the output's largest magnitude. A real defect
    (a kernel flipped or transposed, a tap or channel out of place, a bias missed) changes the
    outputs by order one, far above 1e-5 (the same tolerance as the reference test above).
    """
    x = jax.random.normal(jax.random.key(0), (6,) + shape)
    for im2col_model, lax_model in zip(_cnns(shape, conv="im2col"), _cnns(shape, conv="lax")):
        params = im2col_model.init(jax.random.key(1), x)
        theirs = lax_model.init(jax.random.key(1), x)
        assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(theirs)
        for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(theirs)):
            assert a.shape == b.shape and a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
        params = _nonzero_biases(params, jax.random.key(3))
        out = lax_model.apply(params, x)
        assert out.dtype == jnp.float32 and _rel(out, im2col_model.apply(params, x)) < 1e-5

        def objective(model):
            return lambda p, x: jnp.sum(jnp.sin(3.0 * model.apply(p, x)))

        got = jax.grad(objective(lax_model), argnums=(0, 1))(params, x)
        want = jax.grad(objective(im2col_model), argnums=(0, 1))(params, x)
        for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
            assert _rel(a, b) < 1e-5


def test_each_convolution_path_is_the_one_asked_for():
    """``lax`` calls ``conv_general_dilated``, ``im2col`` never does (so the comparison above compares two paths)."""
    x = jnp.zeros((2,) + SMALL)
    for conv, calls in (("lax", True), ("im2col", False)):
        for model in _cnns(SMALL, conv=conv):
            params = model.init(jax.random.key(0), x)
            text = str(jax.make_jaxpr(jax.grad(lambda p, model=model: jnp.sum(model.apply(p, x))))(params))
            assert ("conv_general_dilated" in text) == calls, conv


def test_auto_conv_is_decided_from_the_backend_when_the_models_are_built(monkeypatch):
    """``auto``: im2col on CPU, lax.conv_general_dilated on GPU and TPU; the modules and the config's record
    hold the concrete choice."""
    from attnjax.train import TrainConfig

    config = TrainConfig(model="cnn", segment_shape=SMALL)
    for backend, want in (("cpu", "im2col"), ("gpu", "lax"), ("tpu", "lax")):
        monkeypatch.setattr(jax, "default_backend", lambda backend=backend: backend)
        assert {m.conv for m in make_models("cnn", num_classes=3, segment_shape=SMALL)[1:]} == {want}
        assert config.to_json()["conv"] == want
    assert "conv" not in TrainConfig(model="mlp").to_json()  # no convolution: nothing to record


def test_unknown_conv_is_a_config_error_naming_it():
    from attnjax.train import TrainConfig

    with pytest.raises(ConfigError, match="conv"):
        make_models("cnn", num_classes=3, segment_shape=SMALL, conv="fft")
    with pytest.raises(ConfigError, match="conv"):
        TrainConfig(model="cnn", segment_shape=SMALL, conv="fft")


@pytest.mark.parametrize("init", sorted(CLASSIFIER_INITS))
def test_classifier_weights_follow_pytorchs_laws(init):
    """Every LeNet weight against the law PyTorch draws it from (scipy's KS test).

    "uniform": U(±1/sqrt(fan_in)) (PyTorch's default, kaiming_uniform(a=sqrt(5)));
    "xavier": torch.nn.init.xavier_normal_, an *untruncated* N(0, 2/(fan_in + fan_out)),
    with fan = channels x receptive field for the convolutions, as PyTorch counts it.
    A truncated normal (flax's xavier_normal) has no mass beyond 2 sigma and fails the
    tail check; the wrong fans fail the KS test at these sample sizes.
    """
    from scipy import stats

    _, classifier = _cnns((28, 28, 1), init)
    params = classifier.init(jax.random.key(3), jnp.zeros((1, 28, 28, 1)))
    kernels = [np.asarray(v, np.float64) for path, v in jax.tree_util.tree_flatten_with_path(params)[0]
               if "kernel" in jax.tree_util.keystr(path)]
    assert len(kernels) == 6
    pooled = []
    for w in kernels:
        receptive = int(np.prod(w.shape[:-2])) if w.ndim > 2 else 1
        fan_in, fan_out = receptive * w.shape[-2], receptive * w.shape[-1]
        if init == "uniform":
            pooled.append(w.ravel() * np.sqrt(fan_in))  # U(-1, 1)
        else:
            pooled.append(w.ravel() / np.sqrt(2.0 / (fan_in + fan_out)))  # N(0, 1)
    z = np.concatenate(pooled)  # 44,220 weights
    law = stats.uniform(-1, 2) if init == "uniform" else stats.norm()
    assert stats.kstest(z, law.cdf).pvalue > 1e-3
    if init == "xavier":
        beyond = np.mean(np.abs(z) > 2)
        assert abs(beyond - 2 * stats.norm.sf(2)) < 0.006  # 4.55 %; binomial sd 0.11 %
