//! The draws: a SplitMix64 stream of the seed, four draws per call, indexed by the call's
//! number, so a call's faults depend only on the seed and its place in the sequence.

use hardy_core::rng::{GAMMA, splitmix64, unit};

/// The draws of one call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Draws {
    base: u64,
}

impl Draws {
    /// Draws of call `n` of the stream of `seed`.
    pub(crate) fn new(seed: u64, n: u64) -> Self {
        Draws {
            base: seed.wrapping_add(n.wrapping_mul(4).wrapping_mul(GAMMA)),
        }
    }

    /// Draw `k` (0 to 3) of the call, uniform in `0..1`.
    pub(crate) fn unit(self, k: u64) -> f64 {
        unit(splitmix64(self.base.wrapping_add(k.wrapping_mul(GAMMA))))
    }
}

/// A seed from the operating system.
pub(crate) fn os_seed() -> u64 {
    use rand::{RngCore, SeedableRng, rngs::SmallRng};
    SmallRng::from_os_rng().next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_in_the_unit_interval_and_differ() {
        let mut seen = std::collections::BTreeSet::new();
        for n in 0..1000 {
            let draws = Draws::new(42, n);
            for k in 0..4 {
                let u = draws.unit(k);
                assert!((0.0..1.0).contains(&u), "{u}");
                seen.insert(u.to_bits());
            }
        }
        assert_eq!(seen.len(), 4000);
    }

    #[test]
    fn a_call_draws_the_same_for_the_same_seed_and_number() {
        assert_eq!(Draws::new(7, 5).unit(2), Draws::new(7, 5).unit(2));
        assert_ne!(Draws::new(7, 5).unit(2), Draws::new(8, 5).unit(2));
    }

    #[test]
    fn draws_look_uniform() {
        let mut below = 0;
        for n in 0..10_000 {
            if Draws::new(3, n).unit(0) < 0.25 {
                below += 1;
            }
        }
        assert!((2300..2700).contains(&below), "{below}");
    }
}
