"""Defaults that cannot fail silently: the lr warning, one name per curriculum kind, one epoch-range format."""

from __future__ import annotations

from efficienttrain.runner.config import SANE_LR, make_config


def test_a_tiny_batch_on_the_papers_recipe_warns_and_names_the_fix():
    cfg = make_config({"data": "demo", "batch_size": 8})  # the paper's lr is scaled from batch 4096
    warning = cfg.lr_warning()
    assert cfg.resolved_lr() < SANE_LR["adamw"][0] / 10
    assert warning is not None and "--lr" in warning and "--preset" in warning and "7.81e-06" in warning


def test_sane_learning_rates_do_not_warn():
    for values, preset in (({"batch_size": 8}, "cpu"), ({}, "vit-small"), ({"batch_size": 4096}, None), ({"batch_size": 256, "opt": "sgd", "lr": 0.1}, None)):
        assert make_config({"data": "demo", **values}, preset=preset).lr_warning() is None, (values, preset)


def test_an_explicit_lr_far_too_high_warns_too():
    warning = make_config({"data": "demo", "lr": 3.0}).lr_warning()
    assert warning is not None and "given by --lr" in warning


def test_eval_batch_size_sets_the_validation_batches(tmp_path):
    from efficienttrain.runner import Trainer

    from .conftest import tiny_config

    assert tiny_config(tmp_path, batch_size=16).resolved_eval_batch_size() == 32
    trainer = Trainer(tiny_config(tmp_path, batch_size=16, eval_batch_size=7)).setup()
    assert trainer.parts.val_loader.batch_size == 7
