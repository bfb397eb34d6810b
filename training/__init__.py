"""onnsim.training — data, losses, metrics and training loops (ideal, noise-aware, PAT, DAT),
SEPNs and digital baselines. Depends on ``optics``, ``photonics`` and ``hardware``.

Typical use::

    task = MeshTask(MeshNetwork(64, 3, generator=g))                 # or DiffractiveTask(...)
    device = PhysicalSystem(task.device_model, preset="bs=0.06,ps=0.06", seed=1)
    trainer = Trainer(task, TrainConfig(method="dat", epochs=5), physical=device)
    trainer.fit(images, labels)                                      # validation-selected
    trainer.load_best(); device.load_parameters(task.device_model.state_dict())
    evaluate(task, test_images, test_labels, physical=device)["accuracy"]
"""

from importlib.metadata import PackageNotFoundError as _NotInstalled, version as _version

try:  # the installed distribution's version; a bare source tree has none
    __version__ = _version("onnsim")
except _NotInstalled:
    __version__ = "0.0.0+unknown"

from .baselines import MLP, ComplexLinearNetwork, LeNet5, count_parameters
from .losses import (Temperature, detector_targets, imaging_loss, lin_mse, mse_to_targets, normalized_intensity_mse,
                     pcc, region_cross_entropy)
from .data import (DATASETS, clear_data_cache, dataset_source, encode_amplitude, encode_fourier_crop, encode_phase,
                   fourier_crop, iterate_batches, load_dataset, pad_to, resize, subset, to_float,
                   train_val_split)
from .metrics import accuracy, confusion_matrix, energy_distribution, mean_pcc
from .sepn import SEPN, ResidualSEPN, image_to_modes, modes_to_image
from .fusion import PhysicalForward, fuse_amplitude, physical_forward
from .tasks import DiffractiveTask, DigitalTask, LinMseTask, MeshTask
from .config import METHODS, TrainConfig
from .losses import similarity_loss
from .metrics import evaluate
from .trainer import Trainer
from .recalibration import Deployment, deploy

__all__: list[str] = [
    "METHODS", "TrainConfig", "Trainer", "evaluate", "similarity_loss", "Deployment", "deploy",
    "MeshTask", "DiffractiveTask", "LinMseTask", "DigitalTask",
    "PhysicalForward", "physical_forward", "fuse_amplitude",
    "SEPN", "ResidualSEPN", "modes_to_image", "image_to_modes",
    "Temperature", "region_cross_entropy", "mse_to_targets", "detector_targets", "lin_mse", "pcc", "imaging_loss",
    "normalized_intensity_mse",
    "accuracy", "confusion_matrix", "mean_pcc", "energy_distribution",
    "MLP", "LeNet5", "ComplexLinearNetwork", "count_parameters",
    "load_dataset", "dataset_source", "clear_data_cache", "DATASETS",
    "train_val_split", "iterate_batches", "subset",
    "to_float", "resize", "pad_to", "encode_amplitude", "encode_phase", "encode_fourier_crop",
    "fourier_crop",  # deprecated alias of encode_fourier_crop
]
