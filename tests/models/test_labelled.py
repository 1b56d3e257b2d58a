"""Reading labelled image folders: flat <wnid>_<label>.<ext> and <wnid>/ class folders."""
from __future__ import annotations

import pytest

from faasml.models.imagenet import imagenet_classes
from faasml.models.labelled import (LabelledFolderError, LabelledImage, read_labelled_folder,
                                    spread_subset)
from tests.models.tiny import colour_png


def test_classes_are_in_sorted_wnid_order():
    classes = imagenet_classes()
    assert len(classes) == 1000
    assert classes[0].wnid == "n01440764" and classes[285].label == "Egyptian cat"


def test_flat_layout(tmp_path):
    colour_png(tmp_path / "n01440764_tench.png", (255, 0, 0))
    colour_png(tmp_path / "n02124075_Egyptian_cat.PNG", (0, 255, 0))
    colour_png(tmp_path / "n02124075_Egyptian_cat_2.png", (0, 255, 0))
    (tmp_path / "README.md").write_text("not an image")
    images = read_labelled_folder(tmp_path)
    assert [(i.path.name, i.index) for i in images] == [
        ("n01440764_tench.png", 0), ("n02124075_Egyptian_cat.PNG", 285),
        ("n02124075_Egyptian_cat_2.png", 285)]


def test_class_folder_layout(tmp_path):
    colour_png(tmp_path / "n01443537" / "a.png", (1, 2, 3))
    colour_png(tmp_path / "n15075141" / "b.png", (1, 2, 3))
    images = read_labelled_folder(tmp_path)
    assert [i.index for i in images] == [1, 999]


def test_unlabelled_or_empty_folders_are_errors(tmp_path):
    with pytest.raises(LabelledFolderError, match="not a folder"):
        read_labelled_folder(tmp_path / "missing")
    with pytest.raises(LabelledFolderError, match="no images"):
        read_labelled_folder(tmp_path)
    colour_png(tmp_path / "cat.png", (0, 0, 0))
    with pytest.raises(LabelledFolderError, match="cat.png"):
        read_labelled_folder(tmp_path)


def test_spread_subset_is_even_and_deterministic(tmp_path):
    images = [LabelledImage(tmp_path / f"{i}.png", i) for i in range(100)]
    subset = spread_subset(images, 10)
    assert [i.index for i in subset] == list(range(0, 100, 10))
    assert spread_subset(images, None) == images and spread_subset(images, 500) == images
