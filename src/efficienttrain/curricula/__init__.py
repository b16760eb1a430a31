"""Curricula: the schedule type (:mod:`.schedule`) and the curricula known by name (:mod:`.factories`)."""

from .factories import (
    DEFAULT_EPOCHS,
    ETPP_FAMILIES,
    budgeted_staircase,
    constant,
    create_curriculum,
    efficienttrain,
    efficienttrain_pp,
    etpp_family_for_model,
    is_curriculum_file,
    linear,
    list_curricula,
    load_curriculum,
    staircase,
)
from .schedule import DEFAULT_MAX_MAGNITUDE, MAGNITUDE_RULES, Curriculum, Settings, Stage, merge_stages, round_size

__all__ = [
    "Stage",
    "Settings",
    "Curriculum",
    "round_size",
    "merge_stages",
    "MAGNITUDE_RULES",
    "DEFAULT_MAX_MAGNITUDE",
    "DEFAULT_EPOCHS",
    "efficienttrain",
    "efficienttrain_pp",
    "linear",
    "constant",
    "staircase",
    "budgeted_staircase",
    "load_curriculum",
    "create_curriculum",
    "list_curricula",
    "is_curriculum_file",
    "ETPP_FAMILIES",
    "etpp_family_for_model",
]
