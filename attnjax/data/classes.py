"""Class names of the image data sets, their default foreground/background
splits, and the parsing of ``--fg``/``--bg`` class lists.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError, DataError
from .base import CoarseLabels

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR100_COARSE_CLASSES",
    "CIFAR100_DEFAULT_SUPERCLASSES",
    "CIFAR100_FINE_CLASSES",
    "CIFAR100_FINE_TO_COARSE",
    "DIGITS_CLASSES",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "default_classes",
    "parse_classes",
]

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_CLASSES: tuple[str, ...] = tuple(str(i) for i in range(10))
DIGITS_CLASSES: tuple[str, ...] = MNIST_CLASSES
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

# CIFAR-100's 20 superclasses and the five fine classes in each (the table of
# the CIFAR web page). Label indices of both levels are alphabetical.
_CIFAR100_HIERARCHY: dict[str, tuple[str, ...]] = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}
CIFAR100_COARSE_CLASSES: tuple[str, ...] = tuple(sorted(_CIFAR100_HIERARCHY))
CIFAR100_FINE_CLASSES: tuple[str, ...] = tuple(
    sorted(fine for fines in _CIFAR100_HIERARCHY.values() for fine in fines)
)
_COARSE_OF_FINE_NAME = {
    fine: CIFAR100_COARSE_CLASSES.index(coarse)
    for coarse, fines in _CIFAR100_HIERARCHY.items()
    for fine in fines
}
CIFAR100_FINE_TO_COARSE: tuple[int, ...] = tuple(
    _COARSE_OF_FINE_NAME[fine] for fine in CIFAR100_FINE_CLASSES
)
# "The 50 classes in the animal and people superclasses."
CIFAR100_DEFAULT_SUPERCLASSES: tuple[str, ...] = (
    "aquatic_mammals",
    "fish",
    "insects",
    "large_carnivores",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
)
assert len(CIFAR100_COARSE_CLASSES) == 20
assert len(CIFAR100_FINE_CLASSES) == 100 == len(set(CIFAR100_FINE_CLASSES))


def default_classes(
    name: str,
    class_names: Sequence[str],
    coarse: CoarseLabels | Sequence[int] | np.ndarray | None = None,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The paper's default foreground and background classes of a data set.

    cifar10: airplane, automobile, bird vs the other 7. cifar100: the 50 fine
    classes of the animal and people superclasses vs the other 50. fashion-mnist,
    mnist, digits: classes 0, 1, 2 vs the rest.

    Arguments:
        name: the data set's name, one of the image sets of ``DATASETS``.
        class_names: its class names, in label order.
        coarse: for cifar100, the `CoarseLabels` read from the files (or
            just their ``fine_to_coarse`` array); when given, it must agree with
            the standard fine-to-superclass mapping.

    Returns:
        ``(fg_ids, bg_ids)``, sorted tuples of class ids.

    Raises:
        ConfigError: unknown name, or class names that do not fit the data set.
        DataError: coarse labels that disagree with the standard mapping.
    """
    k = len(class_names)
    if name == "cifar100":
        if tuple(class_names) != CIFAR100_FINE_CLASSES:
            raise ConfigError(
                "cifar100's default classes need the 100 standard fine class names in "
                f"order; got {k} names"
            )
        if coarse is not None:
            _check_coarse(coarse, class_names)
        chosen = {CIFAR100_COARSE_CLASSES.index(s) for s in CIFAR100_DEFAULT_SUPERCLASSES}
        fg = tuple(f for f in range(k) if CIFAR100_FINE_TO_COARSE[f] in chosen)
    elif name == "cifar10":
        if k != 10:
            raise ConfigError(f"cifar10 has 10 classes; got {k} class names")
        fg = (0, 1, 2)
    elif name in ("fashion-mnist", "mnist", "digits"):
        if k < 4:
            raise ConfigError(f"{name} needs at least 4 classes for its default split; got {k}")
        fg = (0, 1, 2)
    else:
        raise ConfigError(
            f"unknown image data set {name!r}; valid: cifar100, cifar10, fashion-mnist, "
            "mnist, digits"
        )
    bg = tuple(i for i in range(k) if i not in fg)
    return fg, bg


def _check_coarse(coarse: CoarseLabels | Sequence[int] | np.ndarray, class_names) -> None:
    """Raise DataError unless the files' fine-to-superclass mapping is the standard one."""
    mapping = coarse.fine_to_coarse if isinstance(coarse, CoarseLabels) else coarse
    mapping = np.asarray(mapping).reshape(-1)
    k = len(class_names)
    if mapping.shape != (k,):
        raise DataError(f"CIFAR-100 coarse mapping has {mapping.size} entries; expected {k}")
    for f in range(k):
        c, standard = int(mapping[f]), CIFAR100_FINE_TO_COARSE[f]
        if c >= 0 and c != standard:
            seen = CIFAR100_COARSE_CLASSES[c] if c < len(CIFAR100_COARSE_CLASSES) else "?"
            raise DataError(
                f"CIFAR-100 files put fine class {f} ({class_names[f]}) in superclass {c} "
                f"({seen}); the standard superclass is {standard} "
                f"({CIFAR100_COARSE_CLASSES[standard]})"
            )


def _key(s: str) -> str:
    return " ".join(s.replace("_", " ").split()).casefold()


def _valid_list(class_names: Sequence[str], limit: int = 12) -> str:
    k = len(class_names)
    shown = [f"{i}={n}" for i, n in enumerate(class_names)]
    if k > limit:
        shown = shown[: limit - 2] + ["...", f"{k - 1}={class_names[-1]}"]
    return f"ids 0..{k - 1} or names: " + ", ".join(shown)


def parse_classes(spec: str, class_names: Sequence[str], *, field: str | None = None) -> tuple[int, ...]:
    """Parse a ``--fg``/``--bg`` option: comma-separated class names or ids.

    Names match case-insensitively, with ``_`` and spaces interchangeable
    (``"ankle boot"``, ``"Ankle_Boot"``); a name wins over an id for names that
    look like numbers (MNIST's ``"0".."9"``, which are their ids anyway).

    Returns:
        The class ids in the order given.

    Arguments:
        field: the argument the spec came from (``"fg"`` or ``"bg"``), named by the errors.

    Raises:
        ConfigError: empty spec or entry, unknown name, out-of-range id, or a
            class named twice; the message lists the valid choices.
    """
    if spec is None or not str(spec).strip():
        raise ConfigError(f"empty class list; give {_valid_list(class_names)}", field=field)
    by_name: dict[str, int] = {}
    for i, n in enumerate(class_names):
        by_name.setdefault(_key(n), i)
    ids: list[int] = []
    for raw in str(spec).split(","):
        entry = raw.strip()
        if not entry:
            raise ConfigError(
                f"empty entry in class list {spec!r}; give {_valid_list(class_names)}", field=field
            )
        if _key(entry) in by_name:
            i = by_name[_key(entry)]
        else:
            try:
                i = int(entry)
            except ValueError:
                raise ConfigError(
                    f"unknown class {entry!r} in {spec!r}; valid: {_valid_list(class_names)}", field=field
                ) from None
            if not 0 <= i < len(class_names):
                raise ConfigError(
                    f"class id {entry!r} in {spec!r} is out of range; valid: "
                    f"{_valid_list(class_names)}", field=field
                )
        if i in ids:
            raise ConfigError(
                f"class {entry!r} ({i}={class_names[i]}) is given twice in {spec!r}", field=field
            )
        ids.append(i)
    return tuple(ids)
