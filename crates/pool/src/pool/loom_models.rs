//! Loom models of the pool: `RUSTFLAGS="--cfg hardy_loom" cargo test -p hardy-pool
//! --lib --release loom`.

use super::*;

struct Unit;

impl Manager for Unit {
    type Object = u32;
    type Error = std::io::Error;

    async fn create(&self) -> Result<u32, std::io::Error> {
        Ok(1)
    }
}

/// A caller that finds the pool empty and starts waiting, racing the return of the
/// only object to another handle's shard: the caller always gets it, either handed
/// over by the return or found by its second look, which skips shards whose length
/// hint is zero — never left waiting beside an idle object. (With a plain load of the
/// waiting count in the return instead of its read-modify-write, this model fails.)
#[test]
fn loom_a_return_never_misses_a_new_waiter() {
    loom::model(|| {
        let pool = Pool::builder("p", Unit).max_size(1).build().unwrap();
        let shared = pool.shared.clone();
        let mut deadline = || Instant::now() + Duration::from_secs(30);
        assert!(matches!(
            shared.checkout(0, false, &mut deadline),
            Ok(Step::Create)
        ));
        let object = shared.made(7, Instant::now());
        let returner = {
            let shared = shared.clone();
            loom::thread::spawn(move || shared.give_back(object, 1))
        };
        let got = match shared.checkout(0, false, &mut deadline).unwrap() {
            Step::Idle(idle) => Some(idle.object),
            Step::Create => panic!("the pool is full"),
            Step::Wait(waiter, _) => {
                let queued = Queued {
                    shared: &shared,
                    waiter: waiter.clone(),
                    home: 0,
                };
                match shared.take_idle_queued(0) {
                    Some(idle) => {
                        drop(queued);
                        Some(idle.object)
                    }
                    None => {
                        returner.join().unwrap();
                        let state = std::mem::replace(&mut *waiter.state.lock(), WaitState::Done);
                        drop(queued);
                        match state {
                            WaitState::Granted(Grant::Object(idle)) => Some(idle.object),
                            _ => None,
                        }
                    }
                }
            }
        };
        assert_eq!(got, Some(7), "the waiter got the returned object");
    });
}
