"""`learnware.model.base.BaseModel`, the reference's model interface. A learnware's own code imports
`learnware.model.base` inside lwdock's worker, which provides the same class there
(dock/runtime/worker_main.py); this copy is for scripts that build models before packing them."""

from __future__ import annotations

import numpy as np


class BaseModel:
    def __init__(self, input_shape: tuple, output_shape: tuple):
        self.input_shape = input_shape
        self.output_shape = output_shape

    def predict(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError("predict is not implemented")

    def fit(self, X: np.ndarray, y: np.ndarray):
        raise NotImplementedError("fit is not implemented")

    def finetune(self, X: np.ndarray, y: np.ndarray):
        raise NotImplementedError("finetune is not implemented")
