"""A full Fourier heat map: hfc.fourier_heatmap.fourier_heatmap (batched over frequencies and
images) against the plain per-basis loop (fourier_heatmap_loop: one basis image at a time, each
built with numpy's FFT, all images in one batch), in one run, on the same model and images.

The model is the project's small CNN (hfc.models, width 0.5 as in config.yaml), untrained:
the cost does not depend on the weights. Both maps must agree exactly (same signs); the
script checks that and prints seconds and the ratio (compare ratios across machines).

    python benchmarks/fourier_heatmap.py --images 500 --size 28 --threads 2
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from hfc.fourier_heatmap import fourier_heatmap, fourier_heatmap_loop, half_spectrum
from hfc.models import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--width", type=float, default=0.5, help="small_cnn width (config.yaml: 0.5)")
    parser.add_argument("--eps", type=float, default=2.0)
    parser.add_argument("--batch-size", type=int, default=4096, help="images per forward pass of the batched map")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model("small_cnn", args.channels, 10, args.size, 0.5, 0.25, width=args.width).to(device).eval()
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(args.images, args.channels, args.size, args.size, generator=gen).to(device)
    labels = torch.randint(0, 10, (args.images,), generator=gen).to(device)
    n_freq = len(half_spectrum(args.size, args.size))
    print(f"{n_freq} frequencies × {args.images} images = {n_freq * args.images:,} forward passes per map; "
          f"{args.threads} thread(s), {device}")  # fmt: skip

    def timed(fn):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start, out

    t_batched, batched = timed(lambda: fourier_heatmap(model, images, labels, args.eps, batch_size=args.batch_size))
    t_loop, loop = timed(lambda: fourier_heatmap_loop(model, images, labels, args.eps, batch_size=args.images))
    pd.testing.assert_frame_equal(batched, loop)
    print(f"batched:        {t_batched:7.2f} s  ({n_freq * args.images / t_batched:,.0f} images/s)")
    print(f"per-basis loop: {t_loop:7.2f} s  ({n_freq * args.images / t_loop:,.0f} images/s)")
    print(f"ratio loop / batched: {t_loop / t_batched:.2f}x; the two maps are identical")


if __name__ == "__main__":
    main()
