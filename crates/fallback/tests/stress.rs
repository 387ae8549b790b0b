//! Two threads at once on one last-known-good store: the key bound holds at every
//! moment, and every answer is a value that was stored for that key.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hardy_fallback::LastKnownGood;

const MAX_KEYS: usize = 64;

#[test]
fn two_threads_keep_the_key_bound_and_never_mix_up_keys() {
    let store: LastKnownGood<u64, u64> = LastKnownGood::builder("stress")
        .max_keys(MAX_KEYS)
        .max_staleness(Duration::from_secs(3600))
        .build()
        .expect("valid");
    let done = Arc::new(AtomicBool::new(false));
    // A watcher checks the bound while the writers run.
    let watcher = {
        let (store, done) = (store.clone(), done.clone());
        std::thread::spawn(move || {
            let mut checks = 0u64;
            while !done.load(Ordering::Relaxed) {
                assert!(store.len() <= MAX_KEYS, "{} keys", store.len());
                checks += 1;
            }
            checks
        })
    };
    let writers: Vec<_> = (0..2u64)
        .map(|thread| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut hits = 0u64;
                for i in 0..20_000u64 {
                    // Keys overlap between the threads; the value says whose key it is.
                    let key = (i * 7 + thread) % 200;
                    store.put(key, key * 1_000_000 + i);
                    if let Some((value, _age)) = store.get(&((key + 3) % 200)) {
                        assert_eq!(value / 1_000_000, (key + 3) % 200, "a value of another key");
                        hits += 1;
                    }
                }
                hits
            })
        })
        .collect();
    let hits: u64 = writers
        .into_iter()
        .map(|w| w.join().expect("no panic"))
        .sum();
    done.store(true, Ordering::Relaxed);
    let checks = watcher.join().expect("no panic");
    assert!(store.len() <= MAX_KEYS);
    assert!(hits > 0, "some reads found a value");
    assert!(checks > 0, "the bound was watched");
}
