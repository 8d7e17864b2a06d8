"""Zero-shot label matching (class names -> ImageNet classes) and the restricted argmax."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InvalidDataset
from core.evaluate.methods.zeroshot import match_imagenet, zeroshot_predict
from core.models.registry import imagenet_labels


def test_ants_and_bees_match_imagenet_ant_and_bee() -> None:
    labels = imagenet_labels()
    m = match_imagenet(["ants", "bees"], labels)
    assert m == {"ants": [310], "bees": [309]}
    assert labels[310] == "ant" and labels[309] == "bee"
    # case, separators and exact singular names work too; 'bee eater' is not a bee
    assert match_imagenet(["Ant", "BEE"], labels) == {"Ant": [310], "BEE": [309]}
    assert match_imagenet(["golden_retriever", "Tabbies"], labels) == {
        "golden_retriever": [labels.index("golden retriever")], "Tabbies": [labels.index("tabby")]}


def test_comma_separated_synonyms_and_plural_rules() -> None:
    labels = ["ant, emmet, pismire", "bee", "monarch butterfly", "daisy", "box", "tabby, tabby cat"]
    m = match_imagenet(["Emmets", "daisies", "monarch_butterflies", "boxes", "honeybees"], labels)
    assert m == {"Emmets": [0], "daisies": [3], "monarch_butterflies": [2], "boxes": [4], "honeybees": [1]}


def test_unmatched_class_is_refused_with_a_clear_message() -> None:
    with pytest.raises(InvalidDataset, match="no match for 'unicorns'.*--method probe"):
        match_imagenet(["ants", "unicorns"], imagenet_labels())
    with pytest.raises(InvalidDataset, match="'0', '1'"):
        match_imagenet([str(d) for d in range(10)], imagenet_labels())


def test_two_classes_on_one_imagenet_class_are_refused() -> None:
    with pytest.raises(InvalidDataset, match="both match the ImageNet class 'ant'"):
        match_imagenet(["ant", "ants"], imagenet_labels())


def test_prediction_is_the_argmax_over_matched_classes_only() -> None:
    logits = np.zeros((3, 1000), dtype=np.float32)
    logits[:, 0] = 50.0  # a tench beats everything, but is not one of our classes
    logits[0, 310], logits[0, 309] = 3.0, 1.0
    logits[1, 310], logits[1, 309] = -2.0, 4.0
    logits[2, 310], logits[2, 309], logits[2, 92] = 1.0, 0.5, 9.0  # bee eater (92) is not matched
    m = {"ants": [310], "bees": [309]}
    assert zeroshot_predict(logits, ["ants", "bees"], m).tolist() == [0, 1, 0]
    # a class with several ImageNet indices wins when any of them is the largest
    m2 = {"ants": [310], "bees": [309, 92]}
    assert zeroshot_predict(logits, ["ants", "bees"], m2).tolist() == [0, 1, 1]


def test_a_cards_own_head_is_named_in_the_no_match_and_ambiguity_messages() -> None:
    """For a network card, the head's labels are the card's own classes: the messages say so (never "ImageNet")
    and list the dataset class names that matched none of them."""
    with pytest.raises(InvalidDataset) as refused:
        match_imagenet(["Ants", "wasps", "hornets"], ["ant", "bee"], head="antbee")
    msg = str(refused.value)
    assert "ImageNet" not in msg
    assert "one of antbee's own classes ('ant', 'bee'); no match for 'wasps', 'hornets'" in msg
    assert "rename those class folders to the card's class names" in msg
    with pytest.raises(InvalidDataset, match="both match antbee's class 'ant'"):
        match_imagenet(["ant", "ants"], ["ant", "bee"], head="antbee")
