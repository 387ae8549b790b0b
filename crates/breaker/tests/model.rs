//! Model-based property test: random sequences of successes, failures and waits drive
//! the breaker and a plain model of the state machine side by side.

use std::time::Duration;

use hardy_breaker::{BreakerState, CircuitBreaker, Window};
use hardy_core::Error;
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum Op {
    Succeed,
    Fail,
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Succeed),
        3 => Just(Op::Fail),
        2 => (0_u64..15).prop_map(Op::Wait),
    ]
}

/// The model: consecutive failures open it for `OPEN` seconds; one probe decides.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Model {
    Closed { in_a_row: u32 },
    Open { until: u64 },
}

const OPEN: u64 = 10;

impl Model {
    /// Applies a call at time `now`; returns whether it was admitted.
    fn call(&mut self, now: u64, fails: bool, threshold: u32) -> bool {
        match *self {
            Model::Closed { in_a_row } => {
                let in_a_row = if fails { in_a_row + 1 } else { 0 };
                *self = if in_a_row >= threshold {
                    Model::Open { until: now + OPEN }
                } else {
                    Model::Closed { in_a_row }
                };
                true
            }
            Model::Open { until } if now < until => false,
            Model::Open { .. } => {
                *self = if fails {
                    Model::Open { until: now + OPEN }
                } else {
                    Model::Closed { in_a_row: 0 }
                };
                true
            }
        }
    }

    fn state(self) -> BreakerState {
        match self {
            Model::Closed { .. } => BreakerState::Closed,
            Model::Open { .. } => BreakerState::Open,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_breaker_follows_the_model(threshold in 1_u32..5, ops in proptest::collection::vec(op(), 1..80)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let breaker = CircuitBreaker::builder("model")
                .consecutive_failures(threshold)
                .window(Window::Off)
                .half_open_calls(1)
                .open_for(Duration::from_secs(OPEN))
                .build()
                .unwrap();
            let mut model = Model::Closed { in_a_row: 0 };
            let mut now = 0;
            for (step, op) in ops.into_iter().enumerate() {
                let fails = match op {
                    Op::Wait(seconds) => {
                        tokio::time::advance(Duration::from_secs(seconds)).await;
                        now += seconds;
                        continue;
                    }
                    Op::Succeed => false,
                    Op::Fail => true,
                };
                let admitted = model.call(now, fails, threshold);
                let result = breaker
                    .call(|| async move { if fails { Err(std::io::Error::other("x")) } else { Ok(()) } })
                    .await;
                let rejected = matches!(result, Err(Error::Rejected(_)));
                prop_assert_eq!(!rejected, admitted, "step {}: {:?}", step, op);
                // An open breaker whose time is up reports Open until the next call.
                prop_assert_eq!(breaker.state(), model.state(), "step {}: {:?}", step, op);
            }
            Ok(())
        })?;
    }
}
