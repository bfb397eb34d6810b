"""Designs and baselines: ``quickstart`` (mesh and diffractive networks, ideal vs PAT vs DAT),
``beam-splitter`` (a diffractive ten-spot splitter) and ``baselines`` (digital networks)."""

from . import baselines, beam_splitter, quickstart  # noqa: F401  (registration)
