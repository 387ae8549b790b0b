//! SplitMix64, counter-based: the draws of the pattern crates' seeded randomness (load
//! shedding's probabilistic stages, fault injection).
//!
//! `splitmix64(seed + n · GAMMA)` is the `n`-th output of the SplitMix64 stream of
//! `seed`, so a draw can be computed from its index alone: concurrent callers take
//! indices from one atomic counter and never lock, and a seeded run replays exactly.

/// The SplitMix64 increment: the golden ratio in 64 bits.
pub const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 output for `state`: adds [`GAMMA`], then mixes. Well spread for any
/// input, even consecutive ones.
///
/// # Examples
///
/// ```
/// use hardy_core::rng::{GAMMA, splitmix64, unit};
///
/// let seed: u64 = 7;
/// let third = splitmix64(seed.wrapping_add(GAMMA.wrapping_mul(2)));
/// assert_ne!(third, splitmix64(seed.wrapping_add(GAMMA)));
/// assert!((0.0..1.0).contains(&unit(third)));
/// ```
#[inline]
#[must_use]
pub fn splitmix64(state: u64) -> u64 {
    let mut z = state.wrapping_add(GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform draw in `0..1` from 64 random bits (their top 53, as many as an `f64`
/// holds).
#[inline]
#[must_use]
pub fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}
