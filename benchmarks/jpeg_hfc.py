"""What JPEG quality 75 removes of the HFC of lossless Fashion-MNIST, and what that does to HFC-trained models.

1. Energy: x_h(r)'s share of the image energy before and after a Pillow JPEG round trip at
   ``--quality`` (hfc.jpeg.jpeg_hfc_table), on ``--images`` test images, r = 4, 8, 12, 16.
2. Accuracy: the Table 1 set-up of the CPU default (small CNN width 0.5, Adam 1e-3, batch 100)
   trained on x_h(r) of ``--train`` training images and tested on ``--test`` original test
   images, once on the lossless images and once with train and test images JPEG'd (as the
   CIFAR-10 subset is), per radius and seed.

    python benchmarks/jpeg_hfc.py                     # about 3-5 CPU-minutes on one thread
    python benchmarks/jpeg_hfc.py --epochs 1 --train 1000 --seeds 0   # a quick look
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from hfc import data, frequency, jpeg, train  # noqa: E402
from hfc.grid import RunSpec  # noqa: E402


def hfc_trained_accuracy(subset: dict, radius: int, seed: int, epochs: int) -> float:
    """Test accuracy on original test images of a small CNN trained on x_h(radius) of the train images."""
    x_train = data.to_float(subset["train_images"])
    _, high = frequency.split(x_train, radius)
    high = frequency.rescale_by_max(high)
    x_test, y_test = data.to_float(subset["test_images"]), subset["test_labels"]
    mean, std = data.channel_stats(subset["train_images"])
    eval_sets = [train.EvalSet("train", "original", 0, x_train[:200], subset["train_labels"][:200]),
                 train.EvalSet("test", "original", 0, x_test, y_test)]  # fmt: skip
    tdata = train.TrainingData("fashion_mnist", high, subset["train_labels"], 10, 1, x_train.shape[-1], mean, std, eval_sets)
    spec = RunSpec(model="small_cnn", heuristic="vanilla", optimizer="adam", lr=1e-3, batch_size=100,
                   train_band="high", train_radius=radius, labels="natural", epochs=epochs)  # fmt: skip
    settings = {"width_by_model": {"small_cnn": 0.5}}
    _, metrics = train.train_run("jpeg", spec, tdata, seed, settings, progress=False, log=lambda m: None)
    last = metrics[(metrics["epoch"] == epochs) & (metrics["split"] == "test")]
    return float(last["accuracy"].iloc[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quality", type=int, default=75)
    parser.add_argument("--radii", type=int, nargs="+", default=[4, 8, 12, 16])
    parser.add_argument("--images", type=int, default=2000, help="test images of the energy measurement")
    parser.add_argument("--train", type=int, default=4000, help="training images (stratified subset)")
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--no-training", action="store_true", help="the energy table only")
    parser.add_argument("--out", type=Path, help="folder for jpeg_energy.csv and jpeg_accuracy.csv")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()

    full = data.load_dataset("fashion_mnist", download=False)
    print(f"Fashion-MNIST from {full['source']}; Pillow JPEG quality {args.quality}")
    index = data.stratified_subset(full["test_labels"], args.images, 0)
    energy = jpeg.jpeg_hfc_table(full["test_images"][index], args.radii, args.quality)
    print(f"\nHFC energy, {args.images} test images (share of image energy in x_h(r); kept = after / before; "
          "error = |x_h(jpeg) - x_h|^2 / |x_h|^2):")  # fmt: skip
    print(energy.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    frames = {"jpeg_energy": energy}

    if not args.no_training:
        lossless = {}
        for split, size in (("train", args.train), ("test", args.test)):
            pick = data.stratified_subset(full[f"{split}_labels"], size, 0)
            lossless[f"{split}_images"] = full[f"{split}_images"][pick]
            lossless[f"{split}_labels"] = full[f"{split}_labels"][pick]
        compressed = {**lossless, **{k: jpeg.jpeg_roundtrip(lossless[k], args.quality) for k in ("train_images", "test_images")}}
        rows = []
        for images, subset in (("lossless", lossless), (f"jpeg{args.quality}", compressed)):
            for radius in args.radii:
                for seed in args.seeds:
                    accuracy = hfc_trained_accuracy(subset, radius, seed, args.epochs)
                    rows.append({"images": images, "radius": radius, "seed": seed, "accuracy": accuracy})
                    print(f"  trained on HFC(r={radius}) of {images} images, seed {seed}: test accuracy {accuracy:.4f}")
        accuracy = pd.DataFrame(rows)
        table = accuracy.pivot_table(index="radius", columns="images", values="accuracy", aggfunc="mean")
        print(f"\nHFC-trained small CNN ({args.train} train / {args.test} test images, {args.epochs} epochs, "
              f"seeds {args.seeds}), test accuracy on original (lossless or JPEG'd) test images:")  # fmt: skip
        print(table.to_string(float_format=lambda v: f"{v:.4f}"))
        frames["jpeg_accuracy"] = accuracy
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, frame in frames.items():
            frame.to_csv(args.out / f"{name}.csv", index=False)
    print(f"\n{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
