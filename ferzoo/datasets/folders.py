"""Class-folder layouts: `<class>/<image>` and `<split>/<class>/<image>` (FESR, FER2013's folder
form, image_folder).

Split folders are recognised by name in any case (`train`/`training`, `val`/`valid`/`validation`,
`test`/`testing`) and written in the order train, validation, test.

Example:
```python
tree = data.tree_for(root)                      # data: a manual.ManualData
for split, split_dirs in folders.split_folders(tree, root).items():
    for split_dir in split_dirs:
        pairs = folders.class_folders(
            data, tree, split_dir, CLASS_NAMES, holder="FESR folders", where=str(split_dir)
        )                                       # [(class folder, class name), ...]
```
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ferzoo.datasets import manual

#: Folder names (lower case) that stand for a split, in the order the splits are written.
SPLIT_ALIASES = {
    "train": ("train", "training"),
    "validation": ("val", "valid", "validation"),
    "test": ("test", "testing"),
}


def split_of(name: str) -> str | None:
    """The split a folder name stands for ("Val" -> "validation"), or None."""
    for split, aliases in SPLIT_ALIASES.items():
        if name.lower() in aliases:
            return split
    return None


def split_folders(tree: manual.Tree, root: Path) -> dict[str, list[Path]]:
    """The sub-folders of `root` named after a split, by split (train, validation, test order)."""
    found: dict[str, list[Path]] = {}
    for folder in tree.dirs(root):
        split = split_of(folder.name)
        if split is not None:
            found.setdefault(split, []).append(folder)
    return {split: found[split] for split in SPLIT_ALIASES if split in found}


def class_dirs(tree: manual.Tree, folder: Path, class_names: Iterable[str]) -> list[Path]:
    """The sub-folders of `folder` named after one of `class_names` (lower case), in any case."""
    names = set(class_names)
    return [d for d in tree.dirs(folder) if d.name.lower() in names]


def class_folders(
    data: manual.ManualData,
    tree: manual.Tree,
    folder: Path,
    class_names: Iterable[str],
    *,
    holder: str,
    where: str,
) -> list[tuple[Path, str]]:
    """(class folder, class name) for the sub-folders of `folder` named after a class, any case.

    Args:
        data, tree: the manual data (for the error) and the index holding `folder`.
        folder: a folder of class folders.
        class_names: the classes (lower case), in the order the error lists them.
        holder: what holds the class folders, for the error ("FESR folders").
        where: how the error names `folder`.

    Returns:
        The pairs, in folder order.

    Raises:
        ManualDataError: a sub-folder with another name holds images (a class we do not know).
    """
    class_names = list(class_names)
    found = []
    for sub in tree.dirs(folder):
        if sub.name.lower() in class_names:
            found.append((sub, sub.name.lower()))
        elif manual.sorted_images(tree.files(sub)):
            raise data.layout_error(
                f"{holder} holding only the class folders {', '.join(class_names)} "
                f"({where} also holds `{sub.name}/` with images)"
            )
    return found
