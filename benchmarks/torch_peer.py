"""The seed notebook's network and recipe in plain PyTorch, trained as pytorch/examples trains: the benchmarks' peer."""

import numpy as np
import torch
from torch import nn

BATCH_SIZE = 128
LEARNING_RATE = 0.001


def build_network() -> nn.Module:
    """The seed notebook's Sequential model in its order (a Conv2D with relu: a Conv2d, a ReLU; softmax in the loss)."""
    convolutions = [nn.Conv2d(channels, 64, 3, padding=1) for channels in (1, 64, 64)]  # kernel size 3
    pooled = [layer for convolution in convolutions for layer in (convolution, nn.ReLU(), nn.MaxPool2d(2))]
    return nn.Sequential(*pooled, nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.Dropout(0.2), nn.Linear(64, 10))


class TorchClassifier:
    """Train and predict on (N, 28, 28) uint8 images and integer labels, the usual PyTorch way."""

    def __init__(self, seed: int = 42, device: str | None = None) -> None:
        torch.manual_seed(seed)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.generator = torch.Generator().manual_seed(seed)
        self.network = build_network().to(self.device)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=LEARNING_RATE)
        self.loss = nn.CrossEntropyLoss()

    @staticmethod
    def to_tensor(images: np.ndarray) -> torch.Tensor:
        """uint8 images as float32 in [0, 1] with a channel axis, in host memory."""
        return torch.from_numpy(images.astype(np.float32) / 255).unsqueeze(1)

    def train_epoch(self, images: np.ndarray, labels: np.ndarray, max_batches: int | None = None) -> None:
        """One epoch in a new order (its first `max_batches` batches, if given), finished on the device on return."""
        x, y = self.to_tensor(images), torch.from_numpy(labels.astype(np.int64))
        self.network.train()
        order = torch.randperm(len(x), generator=self.generator)
        for start in range(0, len(x), BATCH_SIZE)[:max_batches]:
            batch = order[start : start + BATCH_SIZE]
            self.optimizer.zero_grad()
            self.loss(self.network(x[batch].to(self.device)), y[batch].to(self.device)).backward()
            self.optimizer.step()
        if self.device != "cpu":
            torch.cuda.synchronize()  # so that a clock read now has the epoch's work in it

    @torch.no_grad()
    def predict(self, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Class probabilities, one row an image."""
        self.network.eval()
        x = self.to_tensor(images)
        batches = (x[start : start + batch_size].to(self.device) for start in range(0, len(x), batch_size))
        return torch.cat([torch.softmax(self.network(batch), dim=1) for batch in batches]).cpu().numpy()
