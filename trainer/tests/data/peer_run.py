"""The post's own PyTorch training of the MLP GAN (../shared/peers/seed_gan.py:
its models, data loader, BCELoss and Adam), logging every step as the
trainer's losses.csv does: step,d_loss,g_loss,d_real,d_fake (D's mean output
on the real and on the fake batch). The loop is seed_gan.train's, with those
two means added.

    python3 peer_run.py --seed 0 --epochs 10 --out losses-post-seed0.csv.gz
"""
import argparse
import gzip
import os
import sys
import tempfile

import torch
from torch import nn, optim

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.environ.get('PEERS_DIR', os.path.join(HERE, '..', '..', '..', '..', 'shared', 'peers'))
sys.path.insert(0, PEERS)
import seed_gan as post  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--epochs', type=int, default=10)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--out', required=True)
    p.add_argument('--mnist-dir', default=os.environ.get('MNIST_DIR', post.DEFAULT_MNIST))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    loader = post.prepare_dataloader(64, None, args.mnist_dir, os.path.join(tempfile.gettempdir(), 'seed_gan_data'), args.seed)
    G, D = post.build('gan')
    criterion = nn.BCELoss()
    opt_G = optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_D = optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    rows, step = ['step,d_loss,g_loss,d_real,d_fake'], 0
    for epoch in range(args.epochs):
        for real, _ in loader:
            b = real.size(0)
            ones, zeros = torch.ones((b, 1)), torch.zeros((b, 1))
            fake = post.gen_forward('gan', G, post.make_z('gan', b))
            opt_D.zero_grad()
            on_real = post.dis_forward('gan', D, real)
            on_fake = post.dis_forward('gan', D, fake.detach())
            d_loss = criterion(on_real, ones) + criterion(on_fake, zeros)
            d_loss.backward()
            opt_D.step()
            opt_G.zero_grad()
            g_loss = criterion(post.dis_forward('gan', D, fake), ones)
            g_loss.backward()
            opt_G.step()
            step += 1
            rows.append(f'{step},{d_loss.item():.6g},{g_loss.item():.6g},'
                        f'{on_real.mean().item():.6g},{on_fake.mean().item():.6g}')
        print(f'epoch {epoch + 1}: {rows[-1]}', flush=True)
    with gzip.GzipFile(args.out, 'wb', mtime=0) as f:
        f.write(('\n'.join(rows) + '\n').encode())


if __name__ == '__main__':
    main()
