"""The paper"s frequency analyses (Section 4.1, Figs. 2-6, Table 1, Proposition 1).

* :mod:`~efficienttrain.analysis.filtered`: accuracy of checkpoints on low-/high-pass filtered
  validation images (Fig. 4, Table 1);
* :mod:`~efficienttrain.analysis.cka`: linear CKA of final-layer features between checkpoints
  (Fig. 6);
* :mod:`~efficienttrain.analysis.spectra`: spectra and the out-of-window energy that the crop and
  down-sampling let through (Figs. 2, 5, Proposition 1);
* :mod:`~efficienttrain.analysis.checkpoints` and :mod:`~efficienttrain.analysis.evaldata`: the
  checkpoints and validation images they share;
* :mod:`~efficienttrain.analysis.plots`: the figures; :mod:`~efficienttrain.analysis.cli`: the
  ``efficienttrain analyze`` command.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

# Imported on first use: the command line adds `analyze` to its parser without importing torchvision or timm.
_WHERE: dict[str, str] = {
    **dict.fromkeys(("LoadedModel", "load_model", "resolve_checkpoints"), ".checkpoints"),
    **dict.fromkeys(("CKAResult", "cka_matrix", "cka_series", "extract_features", "final_features", "linear_cka"), ".cka"),
    **dict.fromkeys(("EvalSet", "build_eval_set"), ".evaldata"),
    **dict.fromkeys(("FilteredResult", "apply_filter", "default_radii", "evaluate_series", "filtered_accuracy", "make_settings", "match_highpass_radius", "parse_radii"), ".filtered"),
    **dict.fromkeys(("LeakageResult", "log_spectrum", "remove_window", "spectral_leakage", "window_mask"), ".spectra"),
}
__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)

if TYPE_CHECKING:  # pragma: no cover
    from .checkpoints import LoadedModel, load_model, resolve_checkpoints
    from .cka import CKAResult, cka_matrix, cka_series, extract_features, final_features, linear_cka
    from .evaldata import EvalSet, build_eval_set
    from .filtered import FilteredResult, apply_filter, default_radii, evaluate_series, filtered_accuracy, make_settings, match_highpass_radius, parse_radii
    from .spectra import LeakageResult, log_spectrum, remove_window, spectral_leakage, window_mask

__all__ = [
    "LoadedModel",
    "load_model",
    "resolve_checkpoints",
    "EvalSet",
    "build_eval_set",
    "FilteredResult",
    "apply_filter",
    "default_radii",
    "evaluate_series",
    "filtered_accuracy",
    "make_settings",
    "match_highpass_radius",
    "parse_radii",
    "CKAResult",
    "cka_matrix",
    "cka_series",
    "extract_features",
    "final_features",
    "linear_cka",
    "LeakageResult",
    "log_spectrum",
    "remove_window",
    "spectral_leakage",
    "window_mask",
]
