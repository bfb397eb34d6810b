"""``vaccination``: misalignment-resilient diffractive networks (Mengu et al. 2020) — settings
(:mod:`.config`), the classifier runner (:mod:`.runner`), the imaging part (:mod:`.imaging`)
and the reproduction page (``python -m experiments report vaccination RUN_DIR… --out
docs/reproduction/vaccination.md``)."""

from hardware import LayerDisplacements  # noqa: F401

from . import runner  # noqa: F401
from .config import (ARMS, SCALES, VaccinationConfig, criterion, imaging_vaccine, misalignment_levels,  # noqa: F401
                     vaccine)
from .imaging import imaging_config, run_imaging  # noqa: F401
from .runner import classifier_arms, misaligned_accuracy, run, sweep_classifier  # noqa: F401
from .report import write_report  # noqa: F401

__all__ = ["ARMS", "SCALES", "LayerDisplacements", "VaccinationConfig", "classifier_arms", "criterion", "imaging_config", "imaging_vaccine",
           "misaligned_accuracy", "misalignment_levels", "run", "run_imaging", "sweep_classifier", "vaccine",
           "write_report"]
