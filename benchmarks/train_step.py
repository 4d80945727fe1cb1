"""Time one full training step (zero_grad, forward, loss, backward, Adam step) of the lecture's
networks in cnnpy and in PyTorch, interleaved in one process at the same thread count, and check
that both start from the same weights and compute the same loss.

    python benchmarks/train_step.py [--threads 1] [--repeats 30] [--batch 32]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import cnnpy
from cnnpy import nn, optim


def gausnet():
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2, 2),
                         nn.Conv2d(6, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2, 2),
                         nn.Flatten(), nn.Linear(1936, 50), nn.Linear(50, 1))


def gaussian_ae():
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.ConvTranspose2d(4, 6, 3, stride=2), nn.ReLU(),
                         nn.ConvTranspose2d(6, 1, 3, stride=2))


def dense_ae():
    return nn.Sequential(nn.Linear(784, 250), nn.ReLU(), nn.Linear(250, 50), nn.ReLU(),
                         nn.Linear(50, 250), nn.ReLU(), nn.Linear(250, 784), nn.Sigmoid())


def torch_twin(model, torch):
    t = torch.nn
    layers = []
    for m in model:
        if isinstance(m, nn.Conv2d):
            layers.append(t.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding))
        elif isinstance(m, nn.ConvTranspose2d):
            layers.append(t.ConvTranspose2d(m.in_channels, m.out_channels, m.kernel_size, m.stride))
        elif isinstance(m, nn.Linear):
            layers.append(t.Linear(m.in_features, m.out_features))
        elif isinstance(m, nn.AvgPool2d):
            layers.append(t.AvgPool2d(m.kernel_size, m.stride))
        elif isinstance(m, nn.MaxPool2d):
            layers.append(t.MaxPool2d(m.kernel_size, m.stride))
        else:
            layers.append({nn.ReLU: t.ReLU, nn.Flatten: t.Flatten, nn.Sigmoid: t.Sigmoid}[type(m)]())
    return t.Sequential(*layers)


CASES = {
    "GausNet (BCE-with-logits)": (gausnet, lambda rng, b: (rng.standard_normal((b, 1, 91, 91)),
                                                          (rng.random((b, 1)) > 0.5) * 1.0),
                                  nn.BCEWithLogitsLoss, "BCEWithLogitsLoss"),
    "Gaussian autoencoder (MSE)": (gaussian_ae, lambda rng, b: (lambda x: (x, x))(rng.standard_normal((b, 1, 91, 91))),
                                   nn.MSELoss, "MSELoss"),
    "dense autoencoder (MSE)": (dense_ae, lambda rng, b: (lambda x: (x, x))(rng.random((b, 784))),
                                nn.MSELoss, "MSELoss"),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: nothing to compare with", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    print(f"cnnpy {cnnpy.__version__}, torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}, "
          f"median of {args.repeats} interleaved steps")
    print(f"{'network':30s} {'cnnpy ms':>9s} {'torch ms':>9s} {'torch/cnnpy':>12s}")
    rng = np.random.default_rng(0)
    for name, (make, batch, loss_cls, torch_loss) in CASES.items():
        cnnpy.manual_seed(0)
        model = make()
        tmodel = torch_twin(model, torch)
        model.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})
        opt, topt = optim.Adam(model.parameters(), lr=1e-3), torch.optim.Adam(tmodel.parameters(), lr=1e-3)
        crit, tcrit = loss_cls(), getattr(torch.nn, torch_loss)()
        x, y = batch(rng, args.batch)
        x, y = x.astype(np.float32), y.astype(np.float32)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def ours():
            opt.zero_grad()
            loss = crit(model(x), y)
            model.backward(crit.backward())
            opt.step()
            return loss

        def theirs():
            topt.zero_grad()
            loss = tcrit(tmodel(tx), ty)
            loss.backward()
            topt.step()
            return loss.item()

        first, tfirst = ours(), theirs()
        if abs(first - tfirst) > 1e-4 * max(1.0, abs(tfirst)):
            print(f"{name}: first-step losses differ: cnnpy {first}, torch {tfirst}", file=sys.stderr)
            return 1
        times, ttimes = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            ours()
            times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            theirs()
            ttimes.append(time.perf_counter() - t0)
        a, b = statistics.median(times) * 1e3, statistics.median(ttimes) * 1e3
        print(f"{name:30s} {a:9.2f} {b:9.2f} {b / a:12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
