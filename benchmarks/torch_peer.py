"""The same network and recipe in plain PyTorch (CPU), as a second benchmark peer.

Four 3x3 convolutions of 64 filters (the first three padded and each followed by 2x2 max pooling), dropout 0.2 and
a 10-way linear layer: 112,074 parameters; Adam (lr 0.001), cross-entropy, batch 128, reshuffled every epoch.
"""

import numpy as np
import torch
from torch import nn

BATCH_SIZE = 128


def build_network() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 64, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 64, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 64, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 64, kernel_size=3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(64, 10),
    )


class TorchClassifier:
    """Train and predict on (N, 28, 28) uint8 images and integer labels, the usual PyTorch way."""

    def __init__(self, seed: int = 42) -> None:
        torch.manual_seed(seed)
        self.generator = torch.Generator().manual_seed(seed)
        self.network = build_network()
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=0.001)
        self.loss = nn.CrossEntropyLoss()

    @staticmethod
    def to_tensor(images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(images.astype(np.float32) / 255).unsqueeze(1)

    def train_epoch(self, images: np.ndarray, labels: np.ndarray) -> None:
        x, y = self.to_tensor(images), torch.from_numpy(labels.astype(np.int64))
        self.network.train()
        order = torch.randperm(len(x), generator=self.generator)
        for start in range(0, len(x), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            self.optimizer.zero_grad()
            self.loss(self.network(x[batch]), y[batch]).backward()
            self.optimizer.step()

    @torch.no_grad()
    def predict(self, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
        self.network.eval()
        x = self.to_tensor(images)
        outputs = [torch.softmax(self.network(x[i : i + batch_size]), dim=1) for i in range(0, len(x), batch_size)]
        return torch.cat(outputs).numpy()

    def accuracy(self, images: np.ndarray, labels: np.ndarray) -> float:
        return float((self.predict(images).argmax(axis=1) == labels).mean())
