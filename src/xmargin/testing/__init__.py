"""Shipped test helpers: the margin-model conformance suite and builders of example books.

>>> from xmargin.testing import check_margin_model, books   # doctest: +SKIP
>>> check_margin_model(my_model)                            # doctest: +SKIP
"""

from xmargin.testing import books
from xmargin.testing._conformance import (
    CHECKS,
    ModelCheck,
    check_account_order_invariance,
    check_account_subset_invariance,
    check_empty_account_zero,
    check_idempotent,
    check_im_ge_mm_ge_zero,
    check_inputs_not_mutated,
    check_margin_model,
    check_pickle_roundtrip,
    check_pm_le_sum_of_parts,
    check_result_well_formed,
    check_scales_linearly,
    check_zero_size_equals_absent,
    parametrize_margin_models,
    portfolios_of,
    yield_margin_model_checks,
)

__all__ = [
    "CHECKS",
    "ModelCheck",
    "books",
    "check_account_order_invariance",
    "check_account_subset_invariance",
    "check_empty_account_zero",
    "check_idempotent",
    "check_im_ge_mm_ge_zero",
    "check_inputs_not_mutated",
    "check_margin_model",
    "check_pickle_roundtrip",
    "check_pm_le_sum_of_parts",
    "check_result_well_formed",
    "check_scales_linearly",
    "check_zero_size_equals_absent",
    "parametrize_margin_models",
    "portfolios_of",
    "yield_margin_model_checks",
]
