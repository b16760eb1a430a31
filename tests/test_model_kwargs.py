"""--model-kwargs: timm constructor arguments from the command line or YAML, kept with the run so its model rebuilds."""

from __future__ import annotations

import pytest

from efficienttrain.analysis import load_model
from efficienttrain.cli import main
from efficienttrain.errors import UserError
from efficienttrain.runner import Trainer
from efficienttrain.runner.config import make_config

from .conftest import tiny_config

VIT = "deit_tiny_patch16_224"
SMALL_VIT = ["patch_size=8", "depth=2", "embed_dim=48", "num_heads=2", "global_pool=avg"]


def test_key_value_pairs_are_read_as_yaml():
    cfg = make_config({"model_kwargs": ["depth=6", "global_pool=avg", "qkv_bias=false", "mlp_ratio=2.5"]})
    assert cfg.model_kwargs == {"depth": 6, "global_pool": "avg", "qkv_bias": False, "mlp_ratio": 2.5}
    assert make_config({"model_kwargs": {"depth": 6}}).model_kwargs == {"depth": 6}  # a YAML mapping as it is
    assert make_config({}).model_kwargs == {}


@pytest.mark.parametrize(
    "value, message",
    [
        (["depth"], "KEY=VALUE"),
        (["6=depth"], "KEY=VALUE"),
        (["num_classes=3"], "cannot set num_classes"),
        (["img_size=64"], "--final-size"),
        (["drop_path_rate=0.1"], "--drop-path"),
    ],
)
def test_bad_pairs_and_reserved_keys_name_the_fix(value, message):
    with pytest.raises(UserError, match=message):
        make_config({"model_kwargs": value})


def test_patch_size_given_twice_is_refused(tmp_path, capsys):
    with pytest.raises(UserError, match="pass only one"):
        make_config({"model_kwargs": ["patch_size=8"], "patch_size": 8})
    assert main(["train", "--model-kwargs", "depth", "--output", str(tmp_path / "o")]) == 2
    assert "--model-kwargs takes KEY=VALUE pairs" in capsys.readouterr().err


def test_run_builds_the_model_with_them_and_its_weights_rebuild(tmp_path):
    cfg = tiny_config(tmp_path, model=VIT, model_kwargs=SMALL_VIT, multiple_of=8, epochs=1, drop_path=0.0, safetensors=True)
    result = Trainer(cfg).run()
    assert result.completed
    for name in ("last.pt", "model.safetensors"):
        loaded = load_model(result.output_dir / name)  # strict load: fails unless the same model is rebuilt
        assert len(loaded.model.blocks) == 2 and loaded.model.global_pool == "avg"
        assert loaded.model.patch_embed.patch_size == (8, 8)
