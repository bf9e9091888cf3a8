//! The order in which training visits the data: epoch after epoch, each in a
//! permutation of its own ([`latent::epoch_order`]), cut into batches. The
//! last batch of an epoch is short when the batch size does not divide the
//! data, as PyTorch's `DataLoader` keeps it. The trainer, its bench and the
//! page all draw their batches here.

use crate::latent;

/// Where a run is in its passes over `count` examples.
#[derive(Clone, Debug, PartialEq)]
pub struct Epochs {
    seed: u64,
    count: usize,
    batch_size: usize,
    epoch: usize,
    /// The next batch within the epoch.
    batch: usize,
    order: Vec<u32>,
}

impl Epochs {
    /// At batch `batch` of epoch `epoch` (both 0 for a fresh run, a
    /// checkpoint's for a resumed one). A batch size above `count` is one
    /// batch of everything; `count` must be at least 1.
    pub fn new(seed: u64, count: usize, batch_size: usize, epoch: usize, batch: usize) -> Self {
        let batch_size = batch_size.clamp(1, count.max(1));
        Self { seed, count, batch_size, epoch, batch, order: latent::epoch_order(seed, epoch, count) }
    }

    /// Batches per epoch, the short last one included.
    pub fn steps_per_epoch(&self) -> usize {
        self.count.div_ceil(self.batch_size)
    }

    /// The epoch of the next batch, counted from 0.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// The indices of the next batch; after an epoch's last batch, the next
    /// epoch begins in its own order.
    pub fn next_batch(&mut self) -> &[u32] {
        if self.batch >= self.steps_per_epoch() {
            self.epoch += 1;
            self.batch = 0;
            self.order = latent::epoch_order(self.seed, self.epoch, self.count);
        }
        let start = self.batch * self.batch_size;
        self.batch += 1;
        &self.order[start..(start + self.batch_size).min(self.count)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_epoch_visits_everything_once_and_keeps_the_short_last_batch() {
        let mut epochs = Epochs::new(5, 10, 4, 0, 0);
        assert_eq!(epochs.steps_per_epoch(), 3);
        for epoch in 0..2 {
            let batches: Vec<Vec<u32>> = (0..3).map(|_| epochs.next_batch().to_vec()).collect();
            assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
            assert_eq!(batches.concat(), latent::epoch_order(5, epoch, 10));
            assert_eq!(epochs.epoch(), epoch);
        }
        epochs.next_batch();
        assert_eq!(epochs.epoch(), 2);
    }

    #[test]
    fn a_resumed_position_draws_the_batches_an_unbroken_run_draws() {
        let mut straight = Epochs::new(1, 7, 3, 0, 0);
        let all: Vec<Vec<u32>> = (0..8).map(|_| straight.next_batch().to_vec()).collect();
        // Step 4 is epoch 1, batch 1 (3 batches an epoch).
        let mut resumed = Epochs::new(1, 7, 3, 1, 1);
        let rest: Vec<Vec<u32>> = (0..4).map(|_| resumed.next_batch().to_vec()).collect();
        assert_eq!(rest, all[4..]);
    }

    #[test]
    fn a_batch_larger_than_the_data_is_all_of_it() {
        let mut epochs = Epochs::new(0, 3, 100, 0, 0);
        assert_eq!(epochs.steps_per_epoch(), 1);
        assert_eq!(epochs.next_batch().len(), 3);
    }
}
