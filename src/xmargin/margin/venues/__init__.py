"""Venue presets that reproduce venues' own margin code on their own test cases (docs/venues.md).

- ``_drift``: Drift v2's integer margin arithmetic (weights, IMF size premium, perps, open orders);
- ``_drift_model``: the ``drift`` model kind (preset ``drift-v2``) on an xmargin book;
- ``_params``: the venue presets' parameter files, validated at the edge.

This package's ``__init__`` imports nothing, so that ``margin._presets`` can read ``_params`` without a cycle;
``xmargin.margin`` imports the model modules to register them.
"""
