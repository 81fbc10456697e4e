"""Protocols: named sets of defaults, defined once.

``attnjax`` is this library's own protocol (the default). ``paper`` applies every
choice of the authors' public PyTorch code that attnjax otherwise makes
differently (docs/protocol.md, "every difference from the authors' code"). An explicit
argument always overrides its protocol's default.

Every default of the library and the command line is read from here.
"""

from __future__ import annotations

import dataclasses

from .errors import ConfigError
from .paradigms import FIXED_FOCUS, REGISTRY, SECOND_PHASES

__all__ = ["PARADIGMS", "DEFAULT_LOSSES", "SECOND_PHASES", "FIXED_FOCUS", "OPTIMIZER_NAMES", "Protocol", "PROTOCOLS", "DEFAULT_PROTOCOL", "get_protocol",
           "SIGNATURE_CONVENTIONS", "MODEL_FAMILIES", "CLASSIFIER_INIT_NAMES", "PRECISIONS", "CONVS", "DEFAULT_CONV",
           "AUTO_CONV_RULE", "auto_conv", "TEXT_FAMILIES", "ENCODERS", "ENCODER_WIDTHS", "DEFAULT_HIDDEN",
           "HIDDEN", "TRANSFORMER_HEADS", "TRANSFORMER_HEAD_WIDTH", "TRANSFORMER_LAYERS", "default_hidden", "SEED_MAP_DEFAULTS", "parse_seed_map", "default_seed_map",
           "M", "ORTHOGONAL_CLASSES", "TEXT_SIZES", "BAGS_TEST_EVERY", "SEEDS", "FIXED_FOCUS_ALPHAS",
           "DATASETS", "DEFAULT_MODEL", "NOT_FOR_CNN", "MIN_IMAGE_SIDE", "default_model"]

#: The training paradigms: the three exact losses, the soft-then-hard hybrid
#: schedule, then the sampled estimators of hard attention and LVML by EM.
#: Every other list of paradigm names derives from this one; what each paradigm is, is
#: defined once, in `attnjax.paradigms`.
PARADIGMS = tuple(REGISTRY)
#: What the commands train unless --losses says otherwise: the paper's four.
DEFAULT_LOSSES = ("soft", "hard", "lvml", "hybrid")
#: Optimizers by name (``attnjax.optim.OPTIMIZERS`` maps each to its optax factory).
OPTIMIZER_NAMES = ("sgd", "adam")

#: How s_y, the probability of the true label in the signature, is computed:
#: ``own`` uses each paradigm's own inference rule (pooled for soft attention,
#: expected for hard attention, LVML and the hybrid); ``pooled`` uses
#: softmax(g(sum_j alpha_j x_j)) for every paradigm, as the authors' heatmap scripts do.
SIGNATURE_CONVENTIONS = ("own", "pooled")

# The names of the built-in model choices, here (free of jax) so that the command
# line can offer them; ``attnjax.models`` defines what each one is.
#: Model families of ``attnjax.models.make_models``.
MODEL_FAMILIES = ("linear", "mlp", "cnn", "embed", "gated", "transformer")
#: The families whose segments are token ids: their encoder is an embedding lookup
#: (``transformer``: then positional encoding and masked self-attention).
TEXT_FAMILIES = ("embed", "transformer")
#: Encoders a non-text family can put in front of its focus and classifier
#: (``attnjax.encoders``): ``none`` (the segments themselves), ``mlp`` (one ReLU layer per
#: segment) or ``cnn`` (AttentionDeepMIL's convolutional feature extractor).
ENCODERS = ("none", "mlp", "cnn")
#: The representation width d an encoder gives when none is chosen: the authors' 100-wide
#: text embedding, AttentionDeepMIL's 500 features for the cnn encoder, 64 for the mlp one.
ENCODER_WIDTHS = {"embed": 100, "transformer": 100, "mlp": 64, "cnn": 500}
#: The hidden width of the heads when none is chosen: the authors' 200 for the text models' MLP
#: heads (100-200-1 focus, 100-200-K classifier), 64 for every other family.
DEFAULT_HIDDEN = {"embed": 200, "transformer": 200}
HIDDEN = 64
#: The transformer family's self-attention: the authors' 2 heads of width 50 and one layer.
TRANSFORMER_HEADS, TRANSFORMER_HEAD_WIDTH, TRANSFORMER_LAYERS = 2, 50, 1
#: Classifier weight initialisations (the keys of ``attnjax.layers.CLASSIFIER_INITS``).
CLASSIFIER_INIT_NAMES = ("uniform", "xavier")
#: Arithmetic of the built-in models' products (``attnjax.models.make_models(precision=)``).
PRECISIONS = ("float32", "tensorfloat32", "bfloat16")
#: How the CNNs compute a convolution (``attnjax.models.make_models(conv=)``): ``im2col`` (shifted
#: views concatenated, then one matrix product) or ``lax`` (``lax.conv_general_dilated``);
#: ``auto`` picks one for the backend (`auto_conv`) when the models are built.
CONVS = ("auto", "im2col", "lax")
DEFAULT_CONV = "auto"
#: What ``conv="auto"`` is, said once for the command line's help and the docs.
AUTO_CONV_RULE = "lax.conv_general_dilated on GPU and TPU, im2col on CPU"


def auto_conv(backend: str) -> str:
    """The convolution ``conv="auto"`` means on a backend: `AUTO_CONV_RULE`.

    XLA:CPU runs im2col's matrix products faster than its convolutions (and far faster
    than the grouped convolutions ``vmap`` over seeds makes of them); on GPUs cuDNN's
    convolutions win (benchmarks/README.md).

    Arguments:
        backend: a ``jax.default_backend()`` name (``"cpu"``, ``"gpu"``, ``"tpu"``, ...).

    Returns:
        ``"im2col"`` on ``"cpu"``, ``"lax"`` on any other backend.
    """
    return "im2col" if backend == "cpu" else "lax"


#: How one program maps its seeds when none is chosen, per backend and model family, from
#: ``benchmarks/seed_map.py`` (``benchmarks/results/seed_map.json``, 2-core AMD EPYC): on CPU the
#: linear and MLP models are fastest under ``vmap`` (``map`` took 1.2-2x its time at S = 8 to 64),
#: the CNNs under ``map`` (0.82x vmap's time at S = 8, 0.69x at S = 16; at the paper's batch and
#: S = 16, 0.72 GiB of temporaries against vmap's 9.13). ``embed`` is unmeasured: ``vmap``, like the
#: other dense models. A backend not listed gets ``vmap``: on GPUs and TPUs that is unmeasured.
SEED_MAP_DEFAULTS = {"cpu": {"linear": "vmap", "mlp": "vmap", "cnn": "map", "embed": "vmap"}}


def default_hidden(model: str | None) -> int:
    """The heads' hidden width of a model family when none is chosen (`DEFAULT_HIDDEN`, else `HIDDEN`)."""
    return DEFAULT_HIDDEN.get(model or "", HIDDEN)


def parse_seed_map(text: str) -> str:
    """A seed mapping in its one spelling: ``vmap``, ``map`` or ``mix:G`` (G an integer of at least 2).

    ``vmap``: every seed of the program at once (``jax.vmap``); ``map``: one seed after
    another (``jax.lax.map``); ``mix:G``: ``lax.map`` over groups of G vmapped seeds.

    Arguments:
        text: what was given (surrounding spaces and leading zeros of G are dropped).

    Returns:
        ``"vmap"``, ``"map"`` or ``"mix:G"``.

    Raises:
        ConfigError: anything else, naming the three forms.
    """
    text = str(text).strip()
    if text in ("vmap", "map"):
        return text
    kind, _, group = text.partition(":")
    if kind == "mix" and group.isascii() and group.isdigit() and int(group) >= 2:  # "²".isdigit(), int("²") fails
        return f"mix:{int(group)}"
    raise ConfigError(f"a seed map is vmap, map or mix:G with an integer G of at least 2 (mix:1 is map), "
                      f"got {text!r}")


def default_seed_map(model: str | None, backend: str) -> str:
    """The seed mapping of a model family on a backend when none is chosen (`SEED_MAP_DEFAULTS`).

    Arguments:
        model: a name of `MODEL_FAMILIES`, or None for your own modules.
        backend: a ``jax.default_backend()`` name.

    Returns:
        The table's entry; ``"vmap"`` for a backend or family it does not list, and for None.
    """
    return "vmap" if model is None else SEED_MAP_DEFAULTS.get(backend, {}).get(model, "vmap")


@dataclasses.dataclass(frozen=True)
class Protocol:
    """The defaults of one protocol.

    Attributes:
        name: ``"attnjax"`` or ``"paper"``.
        n_train: training mosaics for image data (orthogonal data defaults to
            one mosaic per class under every protocol).
        n_test: test mosaics for image data (likewise).
        batch_size: minibatch size (clipped to the training set when it is
            a default and the training set is smaller).
        epochs: epochs of compare and signature runs (each hybrid phase too,
            under ``hybrid_phase_epochs == "each"``).
        fixed_focus_epochs: epochs of the fixed-focus runs.
        learning_rate: SGD's learning rate.
        momentum: SGD's momentum.
        bg_replacement: draw a mosaic's m - 1 backgrounds with replacement.
        pixel_range: image pixels are scaled to this interval.
        classifier_init: key of ``attnjax.layers.CLASSIFIER_INITS``.
        signature_s_y: the s_y convention the signature picture shows.
        hybrid_reset: reset the optimizer state (momentum) at the hybrid's switch.
        hybrid_phase_epochs: ``"split"``: the hybrid's ``epochs`` are split at
            ``epochs // 2``; ``"each"``: soft attention runs ``epochs`` epochs,
            then the second phase runs ``epochs`` more (two separate runs).
        fixed_focus_fg_first: the fixed-focus mosaics put the foreground at
            position 0 instead of a uniform position.
        orthogonal_noise: standard deviation of the orthogonal data's
            background noise in the last coordinate.
        text_epochs: what ``epochs`` is for text
            ([`for_data`][attnjax.protocol.Protocol.for_data]); None: the image value.
        text_learning_rate: what ``learning_rate`` is for text; None: the image value.
        text_batch_size: what ``batch_size`` is for text; None: the image value.
        test_pool: ``"disjoint"``: test mosaics draw from base images no training
            mosaic uses (attnjax under both protocols; the authors instead cut
            train and test from one list of mosaics).
    """

    name: str
    n_train: int
    n_test: int
    batch_size: int
    epochs: int
    fixed_focus_epochs: int
    learning_rate: float
    momentum: float
    bg_replacement: bool
    pixel_range: tuple[float, float]
    classifier_init: str
    signature_s_y: str
    hybrid_reset: bool
    hybrid_phase_epochs: str
    fixed_focus_fg_first: bool
    orthogonal_noise: float
    text_epochs: int | None = None
    text_learning_rate: float | None = None
    text_batch_size: int | None = None
    test_pool: str = "disjoint"

    def to_json(self) -> dict:
        """The defaults, without the ``text_*`` fields ([`for_data`][attnjax.protocol.Protocol.for_data] has folded them in for text)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if not k.startswith("text_")}

    def for_data(self, text: bool) -> "Protocol":
        """This protocol as a data set sees it: for text (``text`` true), ``epochs``,
        ``learning_rate`` and ``batch_size`` are the ``text_*`` values where those are set (and
        ``fixed_focus_epochs`` is ``text_epochs``)."""
        if not text:
            return self
        changes = {name: getattr(self, f"text_{name}") for name in ("epochs", "learning_rate", "batch_size")
                   if getattr(self, f"text_{name}") is not None}
        if self.text_epochs is not None:  # the authors ran no fixed focus on text: the text budget
            changes["fixed_focus_epochs"] = self.text_epochs
        return dataclasses.replace(self, **changes)

    def hybrid_schedule(self, epochs: int | None = None, switch_epoch: int | None = None,
                        phases: tuple[int, int] | None = None) -> tuple[int, int | None]:
        """The hybrid's ``(total epochs, default switch epoch)`` under this protocol.

        Arguments:
            epochs: the epochs asked for (None: the protocol's).
            switch_epoch: an explicit switch epoch, if any.
            phases: ``(soft, second)`` epochs given separately; they override both.

        Returns:
            The total, and the switch epoch (None: ``total // 2``). Under
            ``hybrid_phase_epochs == "each"`` without an explicit switch, soft
            attention runs ``epochs`` and the second phase ``epochs`` more.
        """
        if phases is not None:
            return phases[0] + phases[1], phases[0]
        epochs = self.epochs if epochs is None else epochs
        if switch_epoch is None and self.hybrid_phase_epochs == "each":
            return 2 * epochs, epochs
        return epochs, switch_epoch


PROTOCOLS = {
    "attnjax": Protocol(
        name="attnjax", n_train=2000, n_test=1000, batch_size=64, epochs=60,
        fixed_focus_epochs=60, learning_rate=0.01, momentum=0.9, bg_replacement=False,
        pixel_range=(0.0, 1.0), classifier_init="uniform", signature_s_y="own",
        hybrid_reset=False, hybrid_phase_epochs="split", fixed_focus_fg_first=False,
        orthogonal_noise=0.0,
    ),
    # The authors' semi-synthetic CIFAR-10 runs: m = 5, 30,000 / 10,000 mosaics,
    # batch 256, 150 epochs, SGD lr 0.05 momentum 0.9; fixed focus 100 epochs;
    # backgrounds with replacement; Normalize(0.5, 0.5) pixels in [-1, 1];
    # Xavier-normal LeNet classifier; pooled s_y in the heatmap scripts; the
    # hybrid as a second run with a fresh optimizer; orthogonal background noise
    # of variance 1e-2 in the last coordinate.
    "paper": Protocol(
        name="paper", n_train=30000, n_test=10000, batch_size=256, epochs=150,
        fixed_focus_epochs=100, learning_rate=0.05, momentum=0.9, bg_replacement=True,
        pixel_range=(-1.0, 1.0), classifier_init="xavier", signature_s_y="pooled",
        hybrid_reset=True, hybrid_phase_epochs="each", fixed_focus_fg_first=True,
        orthogonal_noise=0.1,
        # The authors' simple text models (HateXplain/Simple/): SGD at lr 0.1, momentum 0.9,
        # batch 256, 550 epochs (their two optimizers act on disjoint parameters: one SGD).
        text_epochs=550, text_learning_rate=0.1, text_batch_size=256,
    ),
}

DEFAULT_PROTOCOL = "attnjax"

#: The data sets by name (``attnjax.data.load_dataset`` builds each).
DATASETS = ("orthogonal", "digits", "fashion-mnist", "mnist", "cifar10", "cifar100", "text", "bags")

#: The model family each data set uses when none is chosen: 8x8 digits are too
#: small for the paper's CNNs, which every other image set uses; your own bags
#: (``--dataset bags``) are usually feature vectors.
DEFAULT_MODEL = {"orthogonal": "linear", "digits": "mlp", "text": "embed", "bags": "mlp"}


#: Data sets whose segments are not images of at least 18x18, the smallest the paper's CNNs take.
NOT_FOR_CNN = {"orthogonal": "vectors", "digits": "8x8 images", "text": "tokens"}
#: The smallest image side each convolutional model takes (valid convolutions and pools).
MIN_IMAGE_SIDE = {"cnn": 18, "cnn encoder": 16}


def default_model(name: str, *, encoder: str = "none") -> str:
    """The model family of data set ``name`` when none is chosen: behind an encoder (whose
    features are vectors) ``mlp`` where the data set's own default is the paper's CNNs."""
    model = DEFAULT_MODEL.get(name, "cnn")
    return "mlp" if model == "cnn" and encoder != "none" else model

# Defaults that no protocol changes, each defined here once.
#: Segments per mosaic.
M = 5
#: Classes C of the orthogonal data set (the paper's simple setting).
ORTHOGONAL_CLASSES = 20
#: ``--dataset bags`` without a ``split`` array: bag i is a test bag when
#: ``i % BAGS_TEST_EVERY == BAGS_TEST_EVERY - 1`` (every fifth bag), the others train.
BAGS_TEST_EVERY = 5
#: Posts per split of the bundled synthetic text task.
TEXT_SIZES = {"n_train": 600, "n_val": 100, "n_test": 200}
#: Runs per paradigm.
SEEDS = 16
#: A run checkpoints without being asked once it has trained this many seconds, then as often.
CHECKPOINT_SECONDS = 120.0
#: The fixed-focus experiment's foreground attention values.
FIXED_FOCUS_ALPHAS = (0.2, 0.4, 0.6, 0.8, 1.0)


def get_protocol(name: str | Protocol | None = None) -> Protocol:
    """The [`Protocol`][attnjax.protocol.Protocol] called ``name`` (default ``"attnjax"``).

    Raises:
        ConfigError: unknown name.
    """
    if isinstance(name, Protocol):
        return name
    name = DEFAULT_PROTOCOL if name is None else name
    if name not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {name!r}; choose from {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]
