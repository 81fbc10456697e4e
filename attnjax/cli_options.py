"""The command line's options: value parsers, option groups, checks and ``--config`` files.

Every check here runs before any data is loaded or any program compiled, and
fails with a one-line [`ConfigError`][attnjax.errors.ConfigError] (or argparse's
one-line error) naming the option.
"""

from __future__ import annotations

import argparse
import re
import struct
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, cast

from .errors import ConfigError, DataError
from .protocol import (AUTO_CONV_RULE, CLASSIFIER_INIT_NAMES, CONVS, DEFAULT_CONV, DEFAULT_LOSSES, FIXED_FOCUS,
                       MODEL_FAMILIES, OPTIMIZER_NAMES, PARADIGMS, PRECISIONS, PROTOCOLS, SECOND_PHASES, M,
                       ORTHOGONAL_CLASSES, SEED_MAP_DEFAULTS, SEEDS, get_protocol, parse_seed_map, DEFAULT_HIDDEN,
                       HIDDEN, ENCODERS, ENCODER_WIDTHS, TEXT_FAMILIES, TRANSFORMER_HEAD_WIDTH, TRANSFORMER_HEADS,
                       TRANSFORMER_LAYERS)

__all__ = ["check_devices", "Parser", "add_data_options", "add_train_options", "add_out", "add_save_attention",
           "check_applicable", "check_out", "check_folder", "check_paths", "convert_value",
           "check_grid", "hybrid_epochs_note", "apply_config_file", "add_config_option", "SWEEP_GRID_OPTIONS"]


def _int_at_least(low: int, what: str, high: int | None = None):
    """An integer of at least ``low`` (and at most ``high``: a size a program can index in int32)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what} integer, got {value}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"expected at most {high:,}, got {value:,}")
        return value

    return parse


#: The largest size, count or width an option takes (int32 indexing leaves room for products).
SIZE_LIMIT = 10**8
_positive_int = _int_at_least(1, "a positive", SIZE_LIMIT)
_natural_int = _int_at_least(0, "a non-negative", SIZE_LIMIT)
#: Epochs and widths past these are typing mistakes, not experiments.
_epochs = _int_at_least(1, "a positive", 10**6)
_width = _int_at_least(1, "a positive", 2**16)

#: The transformer's bounds (``--heads``, ``--layers``): what a 2-core CPU compiles and holds in minutes.
MAX_HEADS, MAX_LAYERS = 64, 32

#: Seeds are bounded so that every generator that takes one (NumPy's and JAX's) accepts it.
SEED_LIMIT = 2**32


def _seed(text: str) -> int:
    value = _int_at_least(0, "a non-negative")(text)
    if value >= SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"expected a seed below 2**32 = {SEED_LIMIT}, got {value}")
    return value


def _as_float32(value: float) -> float:
    """``value`` rounded to float32, the precision training uses (inf if it does not fit)."""
    try:
        return struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        return float("inf")


def _float_in(valid, what: str):
    """A finite number accepted when ``valid(value)``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value != value or abs(value) == float("inf") or not valid(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        # Training runs in float32: a value it cannot represent (1e39, or 1e-50 rounding to 0)
        # is refused here rather than overflowing after the data is built.
        single = _as_float32(value)
        if abs(single) == float("inf") or not valid(single):
            raise argparse.ArgumentTypeError(f"expected {what} that float32 can represent "
                                             f"(magnitude 1.4e-45 to 3.4e38), got {text}")
        return value

    return parse


_positive_float = _float_in(lambda v: v > 0, "a positive finite number")
_momentum = _float_in(lambda v: 0.0 <= v < 1.0, "a number in [0, 1)")
_finite_float = _float_in(lambda v: True, "a finite number")


def _list_of(parse, what: str):
    """A comma-separated list of values, each parsed by ``parse``."""

    def parse_list(text: str) -> list:
        items = _items(text, what)
        values = [parse(t) for t in items]
        if len(set(values)) != len(values):
            raise argparse.ArgumentTypeError(f"a value is listed twice in {text!r}")
        return values

    return parse_list


def _items(text: str, what: str) -> list[str]:
    """The items of a comma-separated value; an empty item (``0.01,,0.05``) is an error."""
    items = [t.strip() for t in str(text).split(",")]
    if not any(items):
        raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}")
    if not all(items):
        raise argparse.ArgumentTypeError(f"an item of {text!r} is empty (two commas, or one at an end)")
    return items


def _loss_list(text: str) -> list[str]:
    names = _items(text, "paradigms")
    unknown = [n for n in names if n not in PARADIGMS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown loss(es) {', '.join(unknown) or '(none)'}; choose from {', '.join(PARADIGMS)}"
        )
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"a loss is listed twice in {text!r}")
    return names


def _alpha_list(text: str) -> list[float]:
    try:
        values = [float(t) for t in _items(text, "numbers")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or any(not 0 < _as_float32(v) <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"alphas must be in (0, 1] (in float32), got {text!r}")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"alphas must be distinct, got {text!r}")
    return values


def _pair(parse, valid, what: str, example: str):
    """``A,B`` parsed by ``parse`` and accepted when ``valid(a, b)``."""

    def parse_pair(text: str):
        try:
            a, b = (parse(p) for p in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, e.g. {example}; got {text!r}") from None
        if not valid(a, b):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return a, b

    return parse_pair


def _seed_map(text: str) -> str:
    try:
        return parse_seed_map(text)
    except (ConfigError, ValueError) as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _path_text(text: str) -> str:
    """A path as given: not empty, and without a NUL character (no file system takes one)."""
    text = str(text)
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a path, got {text!r}")
    if "\0" in text:
        raise argparse.ArgumentTypeError(f"a path cannot hold a NUL character, got {text!r}")
    return text


def _path(text: str) -> Path:
    """`_path_text` as a `Path`."""
    return Path(_path_text(text))


def _cache_choice(text: str) -> str:
    """``--compile-cache``: ``off``, or a folder (`_path_text`)."""
    return "off" if str(text) == "off" else _path_text(text)


def _seed_map_defaults() -> str:
    """``SEED_MAP_DEFAULTS`` in words, for the help."""
    parts = []
    for backend, families in SEED_MAP_DEFAULTS.items():
        by_map: dict[str, list[str]] = {}
        for family, seed_map in families.items():
            by_map.setdefault(seed_map, []).append(family)
        parts.append(f"on {backend.upper()} " + ", ".join(f"{m} for {'/'.join(f)}" for m, f in by_map.items()))
    return "; ".join(parts) + "; vmap on other backends, unmeasured"


_epoch_pair = _pair(int, lambda soft, second: min(soft, second) >= 0 and soft + second >= 1,
                    "SOFT,SECOND non-negative epoch counts with a positive sum", "20,5")
_int_pair = _pair(int, lambda low, high: 2 <= low <= high, "LOW,HIGH integers with 2 <= LOW <= HIGH", "3,8")
#: The largest pixel magnitude --pixel-range takes: 4 x 255 (8-bit pixels with room to spare). Inputs far
#: from unit scale make the first loss of their order whatever the learning rate, which no --lr cures.
MAX_PIXEL = 1020.0
_pixel_range = _pair(float, lambda low, high: low < high and max(abs(low), abs(high)) <= MAX_PIXEL,
                     f"LOW,HIGH with LOW < HIGH, each within ±{MAX_PIXEL:g}", "0,1 or -1,1")


def add_data_options(p: argparse.ArgumentParser) -> None:
    from .protocol import DATASETS

    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="digits", choices=DATASETS,
                   help="data set (default: digits, bundled with scikit-learn)")
    g.add_argument("--data-file", type=_path, default=None,
                   help="text: your JSON file in the HateXplain layout (default: the bundled synthetic task); "
                        "bags (required): your .npz file of bags of segments or feature vectors (docs/bags.md)")
    g.add_argument("--data-dir", type=_path_text, default=None,
                   help="folder with your MNIST (IDX) or CIFAR (binary) files, or Fashion-MNIST")
    g.add_argument("--m", type=int, default=None, help=f"segments per mosaic (default: {M})")
    g.add_argument("--m-range", type=_int_pair, default=None, metavar="LOW,HIGH",
                   help="image data: a varying number of real segments per mosaic, padded and masked to HIGH")
    g.add_argument("--n-train", type=_positive_int, default=None,
                   help="training mosaics (default: the protocol's; orthogonal: one per class)")
    g.add_argument("--n-test", type=_positive_int, default=None,
                   help="test mosaics (default: the protocol's; orthogonal: one per class)")
    g.add_argument("--max-len", type=_positive_int, default=None, metavar="L",
                   help="text with --data-file: truncate posts to their first L tokens (default: none is truncated; "
                        "every post is padded to the longest, so one very long post costs memory for all)")
    g.add_argument("--fg", default=None, help="foreground classes, names or ids, comma-separated")
    g.add_argument("--bg", default=None, help="background classes (default: all others)")
    g.add_argument("--classes", type=_positive_int, default=None,
                   help=f"orthogonal only: number of classes C (default {ORTHOGONAL_CLASSES})")
    g.add_argument("--bg-replacement", action=argparse.BooleanOptionalAction, default=None,
                   help="draw a mosaic's backgrounds with replacement (default: the protocol's)")
    g.add_argument("--pixel-range", type=_pixel_range, default=None,
                   help="image pixels scaled to LOW,HIGH (default: the protocol's: 0,1 or -1,1)")


def add_config_option(p) -> None:
    """``--config FILE``: a TOML file of the command's options, or a recipe (`attnjax.recipes`)."""
    p.add_argument("--config", type=_path, default=None,
                   help="TOML file of options (keys as the long option names), such as a recipe in recipes/; "
                        "the command line overrides it")


def add_train_options(p: argparse.ArgumentParser, *, fixed_focus: bool = False, sweep: bool = False) -> None:
    g = p.add_argument_group("training")
    default_losses = ",".join(FIXED_FOCUS if fixed_focus else DEFAULT_LOSSES)
    # A sweep takes comma-separated lists (a grid axis) where the others take one value.
    many = (lambda parse, what: _list_of(parse, what)) if sweep else (lambda parse, what: parse)
    each = "comma-separated values: a grid axis" if sweep else "one value"
    add_config_option(g)
    g.add_argument("--protocol", choices=tuple(PROTOCOLS), default="attnjax",
                   help="defaults of every option not given: attnjax's own, or the authors' "
                        "code (docs/protocol.md: differences from the authors' code) (default: %(default)s)")
    g.add_argument("--losses", type=_loss_list, default=_loss_list(default_losses),
                   help=f"comma-separated paradigms (default: {default_losses})")
    g.add_argument("--seeds", type=_positive_int, default=SEEDS, help="seeds per paradigm (default: %(default)s)")
    g.add_argument("--epochs", type=_epochs, default=None, help="at most 10**6 (default: the protocol's)")
    g.add_argument("--optimizer", choices=OPTIMIZER_NAMES, default=None, help="default: sgd")
    g.add_argument("--lr", type=many(_positive_float, "learning rates"), default=None,
                   help=f"learning rate, {each} (default: the protocol's)")
    g.add_argument("--momentum", type=many(_momentum, "momenta"), default=None,
                   help=f"SGD momentum, {each} (default: the protocol's)")
    g.add_argument("--init-scale", type=many(_finite_float, "scales"), default=None,
                   help=f"factor on every initial parameter, {each} (default: 1)")
    g.add_argument("--batch-size", type=_positive_int, default=None, help="default: the protocol's")
    g.add_argument("--model", choices=MODEL_FAMILIES, default=None,
                   help="model family (default: mlp for digits and bags, cnn for 28x28/32x32 images, linear for "
                        "orthogonal, embed for text); gated: Ilse et al.'s gated-attention focus "
                        "w.(tanh(Vx)*sigmoid(Ux)) with the mlp classifier; text: embed (the authors' simple model: "
                        "a shared embedding, MLP heads) or transformer (embedding, sinusoidal positions, masked "
                        "self-attention, the same heads)")
    g.add_argument("--hidden", type=_width, default=None,
                   help=f"hidden width of the MLP heads (and of gated attention's V, U), at most 65536 (default: "
                        f"{', '.join(f'{v} for {k}' for k, v in DEFAULT_HIDDEN.items())}, {HIDDEN} for the others)")
    g.add_argument("--encoder", choices=ENCODERS, default=None,
                   help="images and bags: what maps each segment to the features the focus and the classifier see: "
                        "none (the segments), mlp (one ReLU layer), cnn (AttentionDeepMIL's conv 20-50 extractor); "
                        "text always embeds its tokens (default: none)")
    g.add_argument("--encoder-width", type=_width, default=None,
                   help=f"the encoder's (text: the embedding's) width d (default: "
                        f"{', '.join(f'{v} for {k}' for k, v in ENCODER_WIDTHS.items())})")
    g.add_argument("--heads", type=_int_at_least(1, "a positive", MAX_HEADS), default=None,
                   help=f"--model transformer: self-attention heads of width {TRANSFORMER_HEAD_WIDTH}, at most "
                        f"{MAX_HEADS}: each layer's projections are heads x {TRANSFORMER_HEAD_WIDTH} wide and its "
                        f"scores batch x heads x tokens^2 floats (default: {TRANSFORMER_HEADS})")
    g.add_argument("--layers", type=_int_at_least(1, "a positive", MAX_LAYERS), default=None,
                   help=f"--model transformer: self-attention layers, at most {MAX_LAYERS}: each layer is compiled "
                        "anew, about 3 s more per paradigm on a 2-core CPU (measured 19 s at 1 layer, 40 s at 8, 83 s at 32), "
                        f"so {MAX_LAYERS} already compile for minutes (default: {TRANSFORMER_LAYERS})")
    g.add_argument("--classifier-init", choices=CLASSIFIER_INIT_NAMES, default=None,
                   help="classifier weight init (default: the protocol's)")
    g.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="arithmetic of the built-in models' products (default: float32)")
    g.add_argument("--conv", choices=CONVS, default=None,
                   help=f"cnn only: how the convolutions are computed (default: {DEFAULT_CONV}: {AUTO_CONV_RULE})")
    if not fixed_focus:
        g.add_argument("--switch-epoch", type=many(_natural_int, "epochs"), default=None,
                       help=f"hybrid: epochs of soft attention before switching, {each} (default: epochs/2)")
        g.add_argument("--hybrid-to", choices=SECOND_PHASES, default=None,
                       help="hybrid: paradigm after the switch (default: hard)")
        g.add_argument("--samples", type=_positive_int, default=None,
                       help="hard-reinforce: segments sampled per example (default: 1)")
        g.add_argument("--sample-replace", action=argparse.BooleanOptionalAction, default=None,
                       help="hard-reinforce: sample with replacement (default: yes)")
        g.add_argument("--baseline-decay", type=_momentum, default=None,
                       help="hard-reinforce: moving-average baseline decay (default: 0.9, the authors')")
        g.add_argument("--temperature", type=_positive_float, default=None,
                       help="hard-gumbel: Gumbel-softmax temperature (default: 1)")
        g.add_argument("--hybrid-reset", action=argparse.BooleanOptionalAction, default=None,
                       help="hybrid: fresh optimizer state at the switch (default: the protocol's)")
    if not fixed_focus and not sweep:
        g.add_argument("--hybrid-epochs", type=_epoch_pair, default=None, metavar="SOFT,SECOND",
                       help="hybrid: soft and second-phase epoch counts, given separately")
    g.add_argument("--seed", type=_seed, default=0,
                   help="base seed for data and training, below 2**32 (default: %(default)s)")
    g.add_argument("--devices", type=_positive_int, default=None,
                   help="shard the seeds over this many devices (default: one program on the default device)")
    g.add_argument("--chunk-size", type=_positive_int, default=None,
                   help="train the seeds in chunks of this many, when all at once do not fit in memory")
    g.add_argument("--eval-every", type=_int_at_least(1, "a positive", 10**6), default=None, metavar="N",
                   help="also evaluate every N minibatch steps inside each epoch, counted from the epoch's start "
                        "(the fine clock: history points carry step, fractional epoch and flow time; default: "
                        "once an epoch)")
    g.add_argument("--eval-mosaics", type=_positive_int, default=None, metavar="K",
                   help="with --eval-every: evaluate the in-epoch points on each split's first K examples, to bound "
                        "their cost (epoch ends always use the whole splits; default: all)")
    g.add_argument("--seed-map", type=_seed_map, default=None, metavar="vmap|map|mix:G",
                   help="how one program maps its seeds: vmap (all at once), map (one after another: less memory), "
                        "mix:G (groups of G at once); only the last bits of the numbers can change (default, from "
                        f"benchmarks/seed_map.py: {_seed_map_defaults()})")


def add_save_attention(p: argparse.ArgumentParser) -> None:
    """``--save-attention``: the test examples' attention maps in ``--out`` (`attnjax.attention`)."""
    p.add_argument("--save-attention", action="store_true", default=False,
                   help="also write attention.npz: every test example's attention [S, N, m], prediction [S, N] "
                        "and label per paradigm (attnjax.read_attention reads it), and for image segments "
                        "attention.png of a few test examples")


def add_out(p: argparse.ArgumentParser, default: str, *, long_runs: bool = False) -> None:
    """``--out``, ``--overwrite`` and ``--compile-cache``; with ``long_runs``, the checkpoint options too."""
    p.add_argument("--out", type=_path, default=Path(default), help="output folder (default: %(default)s)")
    p.add_argument("--overwrite", action=argparse.BooleanOptionalAction, default=False,
                   help="replace the result files of an earlier run in --out (refused otherwise)")
    p.add_argument("--compile-cache", type=_cache_choice, default=None, metavar="DIR|off",
                   help="JAX's persistent compilation cache folder, or off (default: a folder of this user "
                        "and machine under ~/.cache/attnjax)")
    if not long_runs:
        return
    from .protocol import CHECKPOINT_SECONDS as AUTO_SECONDS

    g = p.add_argument_group("long runs")
    g.add_argument("--checkpoint-every", type=_int_at_least(0, "a non-negative", 10**6), default=None, metavar="K",
                   help=f"write a checkpoint in --out every K epochs; 0: never (default: once a run has trained "
                        f"{AUTO_SECONDS / 60:g} minutes, then every {AUTO_SECONDS / 60:g} minutes)")
    g.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in --out from its newest checkpoint (same command and options)")
    g.add_argument("--tensorboard", type=_path, default=None, metavar="DIR",
                   help="also write TensorBoard event files to DIR (needs the tensorboard extra: tensorboardX)")


#: The largest --config file read (a recipe is a few KiB).
CONFIG_BYTES = 1 << 20

#: A value that starts with a minus sign and a digit: ``-1,1``, ``-0.5``, ``-.5,2``.
_NEGATIVE_VALUE = re.compile(r"^-\.?\d")


class Parser(argparse.ArgumentParser):
    """Argument errors as one line (no usage dump), exit status 2.

    A value that starts with a minus sign is read as the value of the option
    before it: ``--pixel-range -1,1`` means ``--pixel-range=-1,1`` (argparse alone
    takes ``-1,1`` for an option, since it is not a plain negative number).
    """

    commands: Mapping[str, argparse.ArgumentParser]  # the top-level parser's subcommands (set by build_parser)

    def error(self, message):
        self.exit(2, f"attnjax: error: {message} (see '{self.prog} --help')\n")

    def parse_known_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        return super().parse_known_args(join_negative_values(self, args), namespace)


def join_negative_values(parser: argparse.ArgumentParser, args: list[str]) -> list[str]:
    """``[..., "--opt", "-1,1", ...]`` -> ``[..., "--opt=-1,1", ...]`` for ``parser``'s options that take a value."""
    takes_value = {s for a in parser._actions if a.option_strings and a.nargs != 0 for s in a.option_strings}
    out, i = [], 0
    while i < len(args):
        if args[i] == "--":
            out.extend(args[i:])
            break
        if args[i] in takes_value and i + 1 < len(args) and _NEGATIVE_VALUE.match(args[i + 1]):
            out.append(f"{args[i]}={args[i + 1]}")
            i += 2
        else:
            out.append(args[i])
            i += 1
    return out


def check_applicable(args) -> None:
    """Refuse options that do not apply to this command and data set (one line, exit 2)."""
    from .protocol import NOT_FOR_CNN, default_model

    encoder = args.encoder or "none"
    family = args.model or default_model(args.dataset, encoder=encoder)
    needs = getattr(args, "recipe_needs", None)
    if needs and "--data-file" in needs[1] and args.data_file is None:
        raise ConfigError(f"--config {needs[0]}: this recipe needs {needs[1]}")
    image = args.dataset not in ("orthogonal", "digits", "text", "bags")
    text, bags = args.dataset == "text", args.dataset == "bags"
    rules = [
        ("--data-file", args.data_file is not None and not (text or bags), "applies only to --dataset text or bags"),
        ("--max-len", args.max_len is not None and not (text and args.data_file is not None),
         "applies only to --dataset text with --data-file (the synthetic posts are at most 16 tokens)"),
        ("--dataset bags", bags and args.data_file is None, "needs --data-file FILE.npz (docs/bags.md)"),
        ("--m/--m-range", (args.m is not None or args.m_range is not None) and bags,
         "do not apply to --dataset bags (the file's segments give m; its 'mask' gives bags of several sizes)"),
        ("--n-train/--n-test", (args.n_train is not None or args.n_test is not None) and bags,
         "do not apply to --dataset bags (the file's 'split' decides)"),
        ("--n-train/--n-test", (args.n_train is not None or args.n_test is not None) and text
         and args.data_file is not None,
         "do not apply to --dataset text with --data-file (the file's posts are split 80/10/10)"),
        ("--fg/--bg", (args.fg is not None or args.bg is not None) and bags,
         "do not apply to --dataset bags (the file's labels are the classes)"),
        ("--pixel-range", args.pixel_range is not None and bags, "does not apply to --dataset bags"),
        ("--bg-replacement", args.bg_replacement is not None and bags, "does not apply to --dataset bags"),
        ("--data-dir", args.data_dir is not None and bags, "does not apply to --dataset bags (give --data-file)"),
        ("--m/--m-range", (args.m is not None or args.m_range is not None) and text,
         "do not apply to --dataset text (a post's tokens are its segments)"),
        ("--fg/--bg", (args.fg is not None or args.bg is not None) and text, "do not apply to --dataset text"),
        ("--pixel-range", args.pixel_range is not None and text, "does not apply to --dataset text"),
        ("--bg-replacement", args.bg_replacement is not None and text, "does not apply to --dataset text"),
        ("--data-dir", args.data_dir is not None and not image,
         f"does not apply to --dataset {args.dataset} "
         + ("(give your file as --data-file)" if text else "(it needs no files)")),
        ("--classes", args.classes is not None and args.dataset != "orthogonal",
         "applies only to --dataset orthogonal"),
        ("--fg/--bg", (args.fg is not None or args.bg is not None) and args.dataset == "orthogonal",
         "do not apply to --dataset orthogonal"),
        ("--pixel-range", args.pixel_range is not None and args.dataset == "orthogonal",
         "does not apply to --dataset orthogonal (its segments are not images)"),
        ("--bg-replacement", args.bg_replacement is not None and args.dataset == "orthogonal",
         "does not apply to --dataset orthogonal (its backgrounds are zero vectors)"),
        ("--hidden", args.hidden is not None and family not in ("mlp", "gated", *TEXT_FAMILIES),
         f"applies only to the mlp, gated, embed and transformer models, not {family}"),
        ("--conv", getattr(args, "conv", None) is not None and family != "cnn" and encoder != "cnn",
         f"applies only to --model cnn, not {family}, or to --encoder cnn (the other models have no convolution)"),
        ("--encoder", encoder != "none" and text, "does not apply to --dataset text (the text models "
         "embed their tokens; --encoder-width sets the embedding's width)"),
        ("--precision", args.precision is not None and family in TEXT_FAMILIES,
         f"does not apply to --model {family} (the text models compute in float32)"),
        ("--classifier-init", args.classifier_init is not None and family in TEXT_FAMILIES,
         f"does not apply to --model {family} (its heads start as PyTorch's Linear layers, as the authors' do)"),
        (f"--model {family}", text and family not in TEXT_FAMILIES,
         f"does not take token ids: --dataset text needs --model {' or '.join(TEXT_FAMILIES)}"),
        (f"--model {family}", not text and family in TEXT_FAMILIES,
         f"takes token ids: it applies only to --dataset text, not {args.dataset}"),
        ("--model cnn", family == "cnn" and encoder != "none",
         f"takes images, and --encoder {encoder} gives it feature vectors (use --model mlp, gated or linear)"),
        ("--encoder-width", args.encoder_width is not None and not text and encoder == "none",
         "applies only with an --encoder (or to --dataset text's embedding)"),
        ("--eval-mosaics", getattr(args, "eval_mosaics", None) is not None and getattr(args, "eval_every", None) is None,
         "sizes the in-epoch evaluations: it needs --eval-every"),
        ("--heads/--layers", (args.heads is not None or args.layers is not None) and family != "transformer",
         f"apply only to --model transformer, not {family}"),
        ("--model cnn", family == "cnn" and args.dataset in NOT_FOR_CNN,
         f"needs images of at least 18x18 (fashion-mnist, mnist, cifar10, cifar100); --dataset {args.dataset} "
         f"has {NOT_FOR_CNN.get(args.dataset)} (use --model mlp)"),
    ]
    hybrid = "hybrid" in args.losses
    trained = set(args.losses) | ({args.hybrid_to} if hybrid and getattr(args, "hybrid_to", None) else set())
    for option, owners in _paradigm_options().items():
        if getattr(args, option, None) is not None and not owners & trained:
            why = ("applies only when --losses includes hybrid" if owners == {"hybrid"}
                   else f"applies only when training {' or '.join(sorted(owners))}")
            rules.append((f"--{option.replace('_', '-')}", True, why))
    for name, bad, why in rules:
        if bad:
            raise ConfigError(f"{name} {why}")
    if getattr(args, "switch_epoch", None) is not None and getattr(args, "hybrid_epochs", None) is not None:
        raise ConfigError("give --switch-epoch or --hybrid-epochs, not both")
    _check_hybrid_epochs(args, hybrid)
    if args.momentum is not None and args.optimizer not in (None, "sgd"):
        raise ConfigError(f"--momentum applies only to --optimizer sgd, not {args.optimizer}")
    if args.m is not None and args.m < 2:
        raise ConfigError(f"--m must be at least 2 segments, got {args.m}")


#: Command-line options that set a paradigm's field under another name.
_OPTION_ALIASES = {"switch_epoch": ("hybrid_epochs",)}


def _paradigm_options() -> dict[str, set[str]]:
    """``{option dest: the paradigms it applies to}``, from each paradigm's own fields (attnjax.paradigms)."""
    from .paradigms import REGISTRY

    owners: dict[str, set[str]] = {}
    for name, paradigm in REGISTRY.items():
        for field in (*paradigm.options, *paradigm.hyper):
            for option in (field, *_OPTION_ALIASES.get(field, ())):
                owners.setdefault(option, set()).add(name)
    return owners


def _check_hybrid_epochs(args, hybrid: bool) -> None:
    """The hybrid's switch epoch(s) inside its schedule; ``--epochs`` not silently unused."""
    phases = getattr(args, "hybrid_epochs", None)
    if hybrid and phases is not None and args.epochs is not None and set(args.losses) == {"hybrid"}:
        raise ConfigError(f"--epochs does not apply: --hybrid-epochs {phases[0]},{phases[1]} sets the "
                          "hybrid's length, and no other paradigm is trained")
    switch = getattr(args, "switch_epoch", None)
    if not hybrid or switch is None:
        return
    values = switch if isinstance(switch, list) else [switch]
    # The switch epoch is traced (a Hyper field), so the program's length is the schedule's without it.
    total, _ = get_protocol(args.protocol).for_data(args.dataset == "text").hybrid_schedule(args.epochs)
    if max(values) > total:
        raise ConfigError(f"--switch-epoch must be at most the hybrid's {total} epochs, got {max(values)}")


def hybrid_epochs_note(args) -> str | None:
    """What ``--epochs`` means beside ``--hybrid-epochs`` when other paradigms are trained too."""
    phases = getattr(args, "hybrid_epochs", None)
    if phases is None or args.epochs is None or "hybrid" not in args.losses:
        return None
    others = ", ".join(n for n in args.losses if n != "hybrid")
    return (f"the hybrid runs {phases[0]} + {phases[1]} epochs (--hybrid-epochs); "
            f"--epochs {args.epochs} applies to {others}")


def check_grid(args) -> None:
    """A sweep needs at least one grid option; a switch-epoch grid trains only the hybrid."""
    if getattr(args, "switch_epoch", None) is not None and set(args.losses) != {"hybrid"}:
        raise ConfigError("a --switch-epoch grid applies only to --losses hybrid (one grid for every loss), "
                          f"not {','.join(args.losses)}")
    if all(getattr(args, name, None) is None for name in SWEEP_GRID_OPTIONS.values()):
        raise ConfigError("sweep needs a grid: give " + ", ".join(f"--{o.replace('_', '-')}" for o in
                                                                  SWEEP_GRID_OPTIONS.values())
                          + " with comma-separated values (or use 'attnjax compare' for one point)")


#: The traced fields a sweep can grid over, and the option that gives each.
SWEEP_GRID_OPTIONS = {"learning_rate": "lr", "momentum": "momentum", "switch_epoch": "switch_epoch",
                      "init_scale": "init_scale"}


def check_devices(args) -> None:
    """``--devices`` must not ask for more devices than exist (checked before any data is built)."""
    if getattr(args, "devices", None) is None:
        return
    import jax

    available = len(jax.devices())
    if args.devices > available:
        raise ConfigError(
            f"--devices {args.devices}: only {available} {jax.devices()[0].platform} device(s) exist"
            + (" (on CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N splits the host)"
               if jax.default_backend() == "cpu" else "")
        )


def check_folder(option: str, folder: Path) -> None:
    """A folder the command will write in: not a file, not under a file, and writable.

    Arguments:
        option: the option that gave it (``--out``, ``--tensorboard``), for the message.
        folder: the folder; it need not exist yet.

    Raises:
        ConfigError: one line naming ``option``.
    """
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{option} {folder} is a file, not a folder")
    probe = folder.absolute()
    while not probe.exists() and not probe.is_symlink():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{option} {folder}: cannot create it: {probe} is "
                          + ("a file, not a folder" if probe.exists() else "a broken link"))
    try:  # a real write: os.access says yes to root on read-only or special file systems (/proc)
        with tempfile.TemporaryFile(dir=probe):
            pass
        if probe != folder.absolute():
            first = probe / folder.absolute().relative_to(probe).parts[0]
            first.mkdir()
            first.rmdir()
    except OSError as err:
        raise ConfigError(f"{option} {folder}: cannot write in {probe} ({err.strerror or err})") from None


#: The options that name a folder the command writes in, by their dest (``--out`` has its own check).
OUTPUT_FOLDERS = {"tensorboard": "--tensorboard", "compile_cache": "--compile-cache"}


def check_paths(args) -> None:
    """Every folder the command will write in besides ``--out`` (`check_folder`), before any
    data is loaded or program compiled; ``--compile-cache`` only when given (not ``off``)."""
    for dest, option in OUTPUT_FOLDERS.items():
        value = getattr(args, dest, None)
        if value is not None and value != "off":
            check_folder(option, Path(value))


def check_out(args) -> None:
    """``--out`` must be a folder we can write, and not hold an earlier run unless --overwrite."""
    out: Path = args.out
    if str(out).strip() == "" or str(out) == ".":
        raise ConfigError("--out must name a folder (give one explicitly, e.g. --out runs/x)")
    check_folder("--out", out)
    from .files import CHECKPOINTS, MANIFEST, RESULT_FILES, earlier_run

    resume = getattr(args, "resume", False)
    if resume and args.overwrite:
        raise ConfigError("--resume continues the run in --out and --overwrite starts it over: give one")
    unfinished = (out / CHECKPOINTS).is_dir()
    if resume and out.is_dir() and any(out.iterdir()) and earlier_run(out) is None and not unfinished:
        raise ConfigError(f"--resume: --out {out} holds files but no attnjax run to continue")
    finished = [n for n in RESULT_FILES if (out / n).is_file()]
    if resume and finished and not unfinished:
        raise ConfigError(f"--resume: the run in --out {out} has finished ({finished[0]}); nothing to resume "
                          "(--overwrite runs it again)")
    if out.is_dir() and any(out.iterdir()) and not args.overwrite and not resume:
        if unfinished:
            raise ConfigError(f"--out {out} holds the checkpoints of an unfinished run: add --resume to continue "
                              "it, or --overwrite to start over")
        raise ConfigError(
            f"--out {out} already holds files (an earlier run?); choose another folder or add --overwrite"
        )
    if getattr(args, "tensorboard", None) is not None:
        try:
            import tensorboardX  # noqa: F401
        except ImportError:
            raise ConfigError("--tensorboard needs tensorboardX: pip install 'attnjax[tensorboard]'") from None

    if args.overwrite and out.is_dir() and earlier_run(out) is None:
        # Without the file list an earlier run leaves, no file here is known to be attnjax's: refuse
        # rather than replace one of yours that shares a name with what this run writes.
        clashing = sorted(p.name for p in out.iterdir() if p.is_file() and p.suffix in (".json", ".png", ".csv"))
        if clashing:
            raise ConfigError(f"--overwrite: --out {out} holds {', '.join(clashing[:3])}"
                              f"{' ...' if len(clashing) > 3 else ''} but no readable attnjax file list "
                              f"({MANIFEST}), so its files cannot be told from yours; choose another "
                              "folder or move those files away")


# ----------------------------------------------------------------------------- running


def apply_config_file(parser: Parser, argv: list[str] | None) -> None:
    """``--config FILE``: a TOML table of options becomes the command's defaults.

    Keys are the long option names (``lr`` or ``--lr``; ``batch-size`` or
    ``batch_size``); a list is a comma-separated value. Every value goes through
    the option's own converter, as on the command line (`convert_value`).
    Options on the command line still win. An unknown key, a bad value or a bad
    file is a one-line error, ``--config FILE: KEY: ...``. A ``[recipe]`` table
    (``attnjax.recipes``) names the command the file is for; run with another
    command, the file is refused.
    """
    import tomllib

    argv = sys.argv[1:] if argv is None else argv
    pre = Parser(prog="attnjax", add_help=False)
    pre.add_argument("command", nargs="?")
    pre.add_argument("--config", type=_path, default=None)
    known, _ = pre.parse_known_args(argv)
    if known.config is None:
        return
    sub = parser.commands.get(known.command)
    if sub is None:
        raise ConfigError(f"--config applies only to the training commands, not {known.command!r}")
    from .data.fileio import read_text

    try:  # a regular file of at most 1 MiB: a FIFO never blocks, /dev/zero is never read
        table = tomllib.loads(read_text(known.config, "a --config file", limit=CONFIG_BYTES,
                                        label=f"--config {known.config}:"))
    except DataError as err:
        raise ConfigError(str(err)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"--config {known.config}: not valid TOML ({err})") from None
    recipe = table.pop("recipe", None)
    if recipe is not None:
        from attnjax.recipes import check_recipe_table

        check_recipe_table(recipe, known.command, source=f"--config {known.config}")
        sub.set_defaults(recipe_needs=(str(known.config), recipe["needs"]) if "needs" in recipe else None)
    dests = {a.dest: a for a in sub._actions if a.option_strings}
    defaults = {}
    for key, value in table.items():
        dest = key.lstrip("-").replace("-", "_")
        if dest not in dests or dest in ("config", "help"):
            raise ConfigError(f"--config {known.config}: unknown option {key!r} for '{known.command}'")
        try:
            defaults[dest] = convert_value(dests[dest], value)
        except argparse.ArgumentTypeError as err:
            raise ConfigError(f"--config {known.config}: {key}: {err}") from None
    sub.set_defaults(**defaults)


def convert_value(action: argparse.Action, value: object) -> Any:
    """A ``--config`` value as the option's value, through the very converter the command line uses.

    A list is the comma-separated value (its items numbers or strings); ``true``/``false`` only
    for a flag. argparse's own wording is kept for a converter's ValueError (``invalid int
    value: '2.5'``), and the choices are checked after converting, as argparse does.

    Raises:
        argparse.ArgumentTypeError: the one-line reason (the caller names the file and key).
    """
    takes_bool = action.nargs == 0  # --flag / --no-flag
    if takes_bool != isinstance(value, bool):
        raise argparse.ArgumentTypeError("expected true or false" if takes_bool else
                                         f"expected a value, got {value!r}")
    if takes_bool:
        return value
    if isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a value, got a table ({value!r})")
    if isinstance(value, list) and not all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                           for v in value):
        raise argparse.ArgumentTypeError(f"expected a value, got a list of lists, tables or booleans ({value!r})")
    if isinstance(value, list) and action.type in (_path, _path_text, _cache_choice):
        raise argparse.ArgumentTypeError(f"expected one path, got a list ({value!r})")
    if not isinstance(value, (str, int, float, list)):  # a TOML date or time
        raise argparse.ArgumentTypeError(f"expected a value, got {value!r}")
    text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
    converted: Any = text
    if action.type is not None:
        convert = cast(Callable[[str], Any], action.type)  # every option's type is a callable
        try:
            converted = convert(text)
        except argparse.ArgumentTypeError:
            raise
        except (TypeError, ValueError):  # argparse's own message for int, float, ...
            name = getattr(convert, "__name__", repr(convert))
            raise argparse.ArgumentTypeError(f"invalid {name} value: {text!r}") from None
    if action.choices is not None and converted not in action.choices:
        raise argparse.ArgumentTypeError(f"invalid choice: {converted!r} (choose from "
                                         f"{', '.join(map(repr, action.choices))})")
    return converted


