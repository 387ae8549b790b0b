//! Random draws: SplitMix64 over one atomic counter, so that concurrent callers never
//! lock and a seeded shedder draws the same sequence in a single-threaded run.

use crate::sync::{AtomicU64, Ordering};

use hardy_core::rng::{GAMMA, splitmix64, unit};

/// A shared source of draws.
#[derive(Debug)]
pub(crate) struct Rng {
    state: AtomicU64,
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng {
            state: AtomicU64::new(seed),
        }
    }

    /// The next draw in `0..1`.
    pub(crate) fn next_unit(&self) -> f64 {
        let state = self.state.fetch_add(GAMMA, Ordering::Relaxed);
        unit(splitmix64(state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_uniform_and_reproducible() {
        let a = Rng::new(42);
        let b = Rng::new(42);
        let draws: Vec<f64> = (0..10_000).map(|_| a.next_unit()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        assert!(
            draws
                .iter()
                .zip((0..).map(|_| b.next_unit()))
                .all(|(x, y)| *x == y)
        );
        let below = draws.iter().filter(|&&d| d < 0.25).count();
        assert!((2_300..2_700).contains(&below), "{below}");
        assert_ne!(Rng::new(43).next_unit(), draws[0]);
    }
}
