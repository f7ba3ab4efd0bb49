"""A convolutional autoencoder squeezes the 8x8 digits through 8 numbers and back.

The encoder halves the image twice with strided convolutions (8x8 -> 4x4 -> 2x2) and a
linear layer maps the result to an 8-number code; the decoder mirrors it with
``nn.ConvTranspose2d`` (2x2 -> 4x4 -> 8x8, ``output_padding=1`` picks the even sizes a
stride-2 convolution leaves ambiguous), ending in a sigmoid since pixels lie in [0, 1].
Trained with Adam on the mean squared error of the reconstruction.

It prints the test error beside two yardsticks: the mean training image (what a model
that ignores its input can do) and PCA with the same 8 numbers (the best any *linear*
encoder and decoder can do), and shows a few digits next to their reconstructions.

    python examples/digits_autoencoder.py            # 60 epochs
    python examples/digits_autoencoder.py --quick    # 30 epochs
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import chainrule as cr
from chainrule import nn


def autoencoder(code: int) -> tuple[nn.Module, nn.Module]:
    """Encoder (N, 1, 8, 8) -> (N, code) and decoder (N, code) -> (N, 1, 8, 8)."""
    encoder = nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),  # 8x8 -> 4x4
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),  # 4x4 -> 2x2
        nn.Flatten(), nn.Linear(32 * 2 * 2, code),
    )  # fmt: skip
    decoder = nn.Sequential(
        nn.Linear(code, 32 * 2 * 2), nn.ReLU(), nn.Unflatten(1, (32, 2, 2)),
        nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
        nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid(),
    )  # fmt: skip
    return encoder, decoder


def pca_error(train: np.ndarray, test: np.ndarray, k: int) -> float:
    """Mean squared error of the best rank-``k`` linear reconstruction (PCA)."""
    mean = train.mean(axis=0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    basis = vt[:k]
    recon = (test - mean) @ basis.T @ basis + mean
    return float(((recon - test) ** 2).mean())


def show(originals: np.ndarray, recons: np.ndarray) -> None:
    """Pairs of 8x8 images side by side, as characters by ink level."""
    shades = " .:-=+*#%@"
    for row in range(8):
        line = []
        for a, b in zip(originals, recons):
            for img in (a, b):
                line.append("".join(shades[min(9, int(v * 10))] for v in img[row]))
            line.append(" ")
        print("  ".join(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 epochs")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--code", type=int, default=8, help="size of the code")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    epochs = args.epochs or (30 if args.quick else 60)

    cr.manual_seed(args.seed)
    X, _ = cr.datasets.digits()
    order = np.random.default_rng(args.seed).permutation(len(X))
    test, train = X[order[:360]], X[order[360:]]
    images = train.reshape(-1, 1, 8, 8)
    encoder, decoder = autoencoder(args.code)
    model = nn.Sequential(encoder, decoder)
    opt = cr.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.MSELoss()
    print(f"digits: {len(train)} train / {len(test)} test; code of {args.code} numbers; "
          f"{model.num_parameters():,} parameters")  # fmt: skip

    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(images))
        for lo in range(0, len(images), 64):
            xb = images[order[lo : lo + 64]]
            loss = loss_fn(model(xb), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch in (1, epochs):
            print(f"epoch {epoch}: train loss {loss.item():.4f}")
    print(f"trained in {time.perf_counter() - start:.1f} s")

    model.eval()
    with cr.no_grad():
        recon = model(test.reshape(-1, 1, 8, 8)).numpy().reshape(len(test), 64)
    ours = float(((recon - test) ** 2).mean())
    mean_image = float(((train.mean(axis=0) - test) ** 2).mean())
    pca = pca_error(train, test, args.code)
    print(f"test error: autoencoder {ours:.4f}, PCA with {args.code} components {pca:.4f}, "
          f"mean image {mean_image:.4f}")  # fmt: skip
    show(test[:4].reshape(4, 8, 8), recon[:4].reshape(4, 8, 8))


if __name__ == "__main__":
    main()
