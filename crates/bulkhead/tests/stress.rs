//! Two threads hammering one bulkhead: in-flight never exceeds the limit and every
//! count adds up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hardy_bulkhead::Bulkhead;

#[test]
fn two_threads_never_exceed_the_limit() {
    const CALLS: usize = 200_000;
    let bulkhead = Bulkhead::builder("stress")
        .max_concurrent(3)
        .build()
        .expect("valid");
    let running = Arc::new(AtomicUsize::new(0));
    let over = Arc::new(AtomicUsize::new(0));
    let admitted = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for _ in 0..2 {
            let (bulkhead, running, over, admitted) = (
                bulkhead.clone(),
                running.clone(),
                over.clone(),
                admitted.clone(),
            );
            scope.spawn(move || {
                let mut held = Vec::new();
                for n in 0..CALLS {
                    if let Ok(permit) = bulkhead.try_acquire() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                        if running.fetch_add(1, Ordering::SeqCst) >= 3 {
                            over.fetch_add(1, Ordering::SeqCst);
                        }
                        held.push(permit);
                    }
                    if n % 3 == 0 || held.len() > 1 {
                        // Leave the count before the slot is freed for the other thread.
                        if let Some(permit) = held.pop() {
                            running.fetch_sub(1, Ordering::SeqCst);
                            drop(permit);
                        }
                    }
                }
                for permit in held.drain(..) {
                    running.fetch_sub(1, Ordering::SeqCst);
                    drop(permit);
                }
            });
        }
    });
    assert_eq!(over.load(Ordering::SeqCst), 0);
    let stats = bulkhead.stats();
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.admitted as usize, admitted.load(Ordering::Relaxed));
    assert_eq!(stats.admitted + stats.rejected, 2 * CALLS as u64);
}
