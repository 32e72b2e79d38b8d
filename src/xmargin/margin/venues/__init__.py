"""Venue methods re-implemented from the venues' own code and checked on their own test cases (docs/venues.md).

- ``_drift_market`` / ``_drift`` / ``_drift_model``: Drift v2's market weights, its integer margin calculation
  on a user (with liability counts and oracle-validity flags), and the ``drift`` model kind (preset
  ``drift-v2``) on an xmargin book; ``_drift_oracle``: Drift's oracle validity guard; ``_drift_tier``: its
  asset and contract tiers;
- ``_mango`` / ``_mango_model``: Mango v4's health, and the ``mango`` model kind (preset ``mango-v4``);
- ``_derive`` / ``_derive_case``: Derive v2's PMRM_2 and the reader of its portfolio-case files
  (``xmargin venue derive-pmrm``);
- ``_params``: the venue presets' parameter files, validated at the edge; ``_book``: a book account by account.

This package's ``__init__`` imports nothing, so that ``margin._presets`` can read ``_params`` without a cycle;
``xmargin.margin`` imports the model modules to register them.
"""
