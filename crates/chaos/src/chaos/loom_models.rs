//! Loom models of the chaos handle: `RUSTFLAGS="--cfg hardy_loom" cargo test -p
//! hardy-chaos --lib --release loom`.

use super::*;

/// Two threads draw while a third puts a new seed in force: every draw is numbered
/// under exactly one seed, no number repeats under a seed, and the new seed's
/// numbers start at 0 with no gap.
#[test]
fn loom_a_new_seed_restarts_the_numbering_without_repeats_or_gaps() {
    loom::model(|| {
        let chaos = Chaos::builder("model")
            .seed(1)
            .error_rate(0.5)
            .build()
            .expect("valid chaos");
        let drawers: Vec<_> = (0..2)
            .map(|_| {
                let chaos = chaos.clone();
                loom::thread::spawn(move || {
                    chaos
                        .numbered()
                        .map(|(settings, n)| (settings.seed, n))
                        .expect("enabled")
                })
            })
            .collect();
        let mut config = chaos.config();
        config.seed = Some(2);
        chaos.set_config(config).expect("valid");
        let mut drawn: Vec<_> = drawers
            .into_iter()
            .map(|thread| thread.join().expect("drawer"))
            .collect();
        drawn.sort_unstable();
        for seed in [1, 2] {
            let numbers: Vec<_> = drawn
                .iter()
                .filter(|(s, _)| *s == seed)
                .map(|(_, n)| *n)
                .collect();
            let expected: Vec<u64> = (0..numbers.len() as u64).collect();
            assert_eq!(numbers, expected, "seed {seed}: {drawn:?}");
        }
        assert_eq!(chaos.seed(), 2);
    });
}
