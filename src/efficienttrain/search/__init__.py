"""Schedule search: Algorithm 1 of the paper and a budget-constrained variant."""

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

# Imported on first use: the command line adds `search` to its parser without importing the runner (timm).
_WHERE: dict[str, str] = {
    **dict.fromkeys(("SearchLog", "SearchResult", "Trial", "budgeted_search", "budgeted_staircase", "greedy_search", "staircase"), ".algorithm"),
    **dict.fromkeys(("RunnerEvaluator",), ".evaluator"),
}
__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)

if TYPE_CHECKING:  # pragma: no cover
    from .algorithm import SearchLog, SearchResult, Trial, budgeted_search, budgeted_staircase, greedy_search, staircase
    from .evaluator import RunnerEvaluator

__all__ = [
    "SearchLog",
    "SearchResult",
    "Trial",
    "greedy_search",
    "budgeted_search",
    "staircase",
    "budgeted_staircase",
    "RunnerEvaluator",
]
