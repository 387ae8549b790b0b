//! Thread indices are given back when a thread ends (a process of its own, so no other
//! test's threads take the freed numbers).

use hardy_core::thread_index;

#[test]
fn an_ended_threads_index_goes_to_the_next_thread() {
    let here = thread_index();
    let first = std::thread::spawn(thread_index).join().unwrap();
    assert_ne!(first, here);
    for _ in 0..10 {
        let next = std::thread::spawn(thread_index).join().unwrap();
        assert_eq!(next, first, "the freed index is the lowest free one");
    }
    let barrier = std::sync::Barrier::new(2);
    let barrier = &barrier;
    let (a, b) = std::thread::scope(|scope| {
        let run = move || {
            let index = thread_index();
            barrier.wait();
            index
        };
        let a = scope.spawn(run);
        let b = scope.spawn(run);
        (a.join().unwrap(), b.join().unwrap())
    });
    let mut both = [a, b];
    both.sort_unstable();
    assert_eq!(both[0], first, "the lowest free index first");
    assert!(both[1] > first && both[1] != here);
}
