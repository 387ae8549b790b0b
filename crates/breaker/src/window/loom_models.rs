//! Loom models of the count window: `RUSTFLAGS="--cfg hardy_loom" cargo test -p
//! hardy-breaker --lib --release loom`.

use super::*;

/// Two threads writing the same slots: the running counts always equal the bits.
#[test]
fn loom_count_window_counts_match_bits() {
    loom::model(|| {
        let window = crate::sync::Arc::new(CountWindow::new(2, true, 0));
        let threads: Vec<_> = [(true, false), (false, true)]
            .into_iter()
            .map(|(first, second)| {
                let window = window.clone();
                loom::thread::spawn(move || {
                    // Both threads write both slots (the positions' own
                    // reservation is modelled in the models below).
                    window.record_in_slot(
                        0,
                        Mark {
                            failure: first,
                            slow: second,
                        },
                    );
                    window.record_in_slot(
                        1,
                        Mark {
                            failure: second,
                            slow: first,
                        },
                    );
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let totals = window.totals(0);
        let failures = window.failure_bits[0][0]
            .load(Ordering::Relaxed)
            .count_ones();
        let slow = window.slow_bits[0][0].load(Ordering::Relaxed).count_ones();
        assert_eq!(totals.failures, failures);
        assert_eq!(totals.slow, slow);
    });
}

/// A call of cycle 0 finishing while the window is emptied for cycle 1, on a run of
/// its own and on the shared counter: the new cycle counts no call, and at most the
/// one late mark can land in its bits until a call of cycle 1 overwrites it.
#[test]
fn loom_a_late_call_reserves_nothing_in_the_next_cycle() {
    for thread in [0, 2] {
        loom::model(move || {
            let window = crate::sync::Arc::new(CountWindow::new(8, false, 2));
            let late = {
                let window = window.clone();
                loom::thread::spawn(move || {
                    if let Some(slot) = window.take(thread, 0) {
                        window.record_in_slot(
                            slot,
                            Mark {
                                failure: true,
                                slow: false,
                            },
                        );
                    }
                })
            };
            window.clear(1);
            late.join().unwrap();
            let totals = window.totals(1);
            assert_eq!(totals.calls, 0);
            assert!(totals.failures <= 1);
        });
    }
}

/// A thread taking a position from its own run while another takes one from the
/// shared counter: both calls are counted once, and the counts equal the bits.
#[test]
fn loom_thread_runs_count_every_call() {
    loom::model(|| {
        let window = crate::sync::Arc::new(CountWindow::new(8, false, 2));
        let threads: Vec<_> = [0, 2]
            .into_iter()
            .map(|thread| {
                let window = window.clone();
                loom::thread::spawn(move || {
                    let slot = window.take(thread, 0).expect("generation 0");
                    window.record_in_slot(
                        slot,
                        Mark {
                            failure: thread == 0,
                            slow: false,
                        },
                    );
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let totals = window.totals(0);
        let failures = window.failure_bits[0][0]
            .load(Ordering::Relaxed)
            .count_ones();
        assert_eq!(totals.calls, 2);
        assert_eq!(totals.failures, failures);
        assert_eq!(failures, 1);
    });
}
