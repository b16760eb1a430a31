"""Schedule search: Algorithm 1 of the paper and a budget-constrained variant."""

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
