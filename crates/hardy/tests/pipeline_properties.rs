//! Random runs through the stack and through a pipeline on twin handles leave the
//! same traces: random calls, then random retried calls under a rate limit.
#![cfg(all(
    feature = "retry",
    feature = "breaker",
    feature = "rate-limit",
    feature = "bulkhead",
    feature = "timeout"
))]

mod support;

use std::time::Duration;

use hardy::breaker::{BreakerConfig, BreakerSnapshot, Window};
use hardy::bulkhead::BulkheadConfig;
use hardy::prelude::*;
use hardy::retry::{RetryBudgetConfig, RetryConfig};
use proptest::prelude::*;
use tokio::time::sleep;
use tower::BoxError;

use support::*;

// The model: random calls through both.

/// A step of a random run.
#[derive(Debug, Clone)]
enum Step {
    /// Calls made together; the step ends when every one has ended.
    Burst(Vec<Call>),
    /// Time passes with no call running.
    Wait(Duration),
}

fn a_call() -> impl Strategy<Value = Call> {
    // Distinct delays for distinct outcomes: two calls ending at the same instant end
    // the same way, so the order the runtime wakes them in cannot matter.
    prop_oneof![
        Just(Call::Ok(1)),
        Just(Call::Fail),
        Just(Call::Hang),
        Just(Call::OkAfter(ms(300))),
        Just(Call::FailAfter(ms(450))),
    ]
}

fn a_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => proptest::collection::vec(a_call(), 1..=4).prop_map(Step::Burst),
        1 => prop_oneof![Just(Duration::from_secs(2)), Just(OPEN_FOR)].prop_map(Step::Wait),
    ]
}

/// Both rules of the breaker and its probes in play; two slots and a queue of one whose
/// wait runs out before a hung call's timeout.
fn model_setup() -> Setup {
    Setup {
        breaker: BreakerConfig {
            consecutive_failures: 3,
            window: Window::Count { size: 6 },
            minimum_calls: 4,
            failure_ratio: 0.5,
            half_open_calls: 2,
            open_for: OPEN_FOR,
            ..BreakerConfig::default()
        },
        bulkhead: BulkheadConfig {
            max_concurrent: 2,
            max_waiting: 1,
            max_wait: ms(500),
        },
        timeout: LIMIT,
        retry: None,
        budget: None,
        rate_limit: None,
    }
}

fn label(result: &Result<u32, BoxError>) -> String {
    match result {
        Ok(value) => format!("ok {value}"),
        Err(error) => match error.as_rejection() {
            Some(rejection) => format!("{:?}", rejection.kind()),
            None => format!("error {error}"),
        },
    }
}

/// Makes `requests` together, each through a clone of `service`, and waits until every
/// one has ended: their answers, labelled, in the order they were made.
async fn burst(service: &Svc, requests: impl IntoIterator<Item = Request>) -> Vec<String> {
    let running: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let mut service = service.clone();
            tokio::spawn(async move { answer(&mut service, request).await })
        })
        .collect();
    let mut answers = Vec::new();
    for call in running {
        answers.push(label(&call.await.expect("no call panics")));
    }
    answers
}

/// Runs `run` through the stack, then through a pipeline on twin handles built from
/// `setup`, one after the other in one runtime on a paused clock: what each run returned
/// and left, the stack's first.
fn stack_and_pipeline<T, F>(setup: &Setup, run: F) -> [(T, Record); 2]
where
    F: AsyncFn(&Guards, Via) -> T,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    // Built inside the runtime, on its paused clock.
    [Via::Stack, Via::Pipeline].map(|via| {
        runtime.block_on(async {
            let guards = setup.build();
            (run(&guards, via).await, guards.record())
        })
    })
}

/// Each step's answers, in the order the calls were made, and the breaker after it.
type Trace = Vec<(Vec<String>, BreakerSnapshot)>;

async fn run(guards: &Guards, via: Via, steps: &[Step]) -> Trace {
    let service = guards.service(via);
    let mut trace = Vec::new();
    for step in steps {
        let answers = match step {
            Step::Wait(time) => {
                sleep(*time).await;
                Vec::new()
            }
            Step::Burst(calls) => burst(&service, calls.iter().map(|&call| call.into())).await,
        };
        trace.push((answers, guards.breaker.snapshot()));
    }
    trace
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn random_calls_leave_the_same_traces_through_the_pipeline_as_through_the_stack(
        steps in proptest::collection::vec(a_step(), 1..24),
    ) {
        let [(stack_trace, stack), (pipeline_trace, pipeline)] =
            stack_and_pipeline(&model_setup(), async |guards: &Guards, via| {
                run(guards, via, &steps).await
            });
        prop_assert_eq!(pipeline_trace, stack_trace);
        prop_assert_eq!(pipeline, stack);
    }
}

// The model with retries and a rate limit: random attempts through both.

/// A round of a random run with retries.
#[derive(Debug, Clone)]
enum Round {
    /// Calls made together, each with the outcomes of its attempts in turn (then `Ok(0)`)
    /// and its caller's budget, if it has a deadline; the round ends when every call has
    /// ended.
    Burst(Vec<(Vec<Call>, Option<Duration>)>),
    /// Time passes with no call running.
    Wait(Duration),
}

/// A caller's budget, if its call has a deadline: most have none; some have one that has
/// passed already, or that ends before or after the timeout's limit. The budgets are not
/// multiples of 5 ms, as the model's other times are, so that a deadline and another
/// timer seldom end at the same instant.
fn a_budget() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(Duration::ZERO)),
        1 => Just(Some(ms(377))),
        1 => Just(Some(ms(1213))),
    ]
}

fn a_round() -> impl Strategy<Value = Round> {
    prop_oneof![
        4 => proptest::collection::vec(
            (proptest::collection::vec(a_call(), 1..=3), a_budget()),
            1..=4,
        )
        .prop_map(Round::Burst),
        1 => prop_oneof![Just(Duration::from_secs(2)), Just(OPEN_FOR)].prop_map(Round::Wait),
    ]
}

/// The model's breaker and bulkhead; a retry of `max_attempts` attempts `delay` apart
/// (waiting for an open breaker's or the rate limit's retry-after when told to, capped
/// at 700 ms) on a small budget refilled by calls and time; a rate limit of 8 calls a
/// second in bursts of 3 whose calls wait up to 250 ms for their turn.
fn retried_model_setup(max_attempts: u32, delay: Duration, wait_for_retry_after: bool) -> Setup {
    model_setup()
        .retry(RetryConfig {
            wait_for_retry_after,
            max_delay: ms(700),
            ..retries(max_attempts, delay)
        })
        .budget(RetryBudgetConfig {
            retry_ratio: 0.25,
            min_retries_per_second: 0.5,
            max_balance: 3,
        })
        .rate_limit(rate(8, Duration::from_secs(1), 3, ms(250)))
}

/// Each round's answers, in the order the calls were made, the breaker after it, the
/// time until the rate limit admits a call at once and the budget's balance.
type RetriedTrace = Vec<(Vec<String>, BreakerSnapshot, Duration, Option<f64>)>;

async fn run_rounds(guards: &Guards, via: Via, rounds: &[Round]) -> RetriedTrace {
    let service = guards.service(via);
    let mut trace = Vec::new();
    for round in rounds {
        let answers = match round {
            Round::Wait(time) => {
                sleep(*time).await;
                Vec::new()
            }
            Round::Burst(calls) => {
                let requests = calls.iter().zip(0u8..).map(|((attempts, budget), key)| {
                    guards.dependency.script(key, attempts.iter().copied());
                    Request {
                        call: Call::Script(key),
                        deadline: budget.map(Deadline::after),
                    }
                });
                burst(&service, requests).await
            }
        };
        trace.push((
            answers,
            guards.breaker.snapshot(),
            guards.limiter().time_to_ready(),
            guards.budget_balance(),
        ));
    }
    trace
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn random_retried_calls_leave_the_same_traces_through_the_pipeline_as_through_the_stack(
        rounds in proptest::collection::vec(a_round(), 1..16),
        max_attempts in 2u32..=3,
        delay in prop_oneof![Just(Duration::ZERO), Just(ms(40)), Just(ms(70))],
        wait_for_retry_after in any::<bool>(),
    ) {
        let setup = retried_model_setup(max_attempts, delay, wait_for_retry_after);
        let [(stack_trace, stack), (pipeline_trace, pipeline)] =
            stack_and_pipeline(&setup, async |guards: &Guards, via| {
                run_rounds(guards, via, &rounds).await
            });
        prop_assert_eq!(pipeline_trace, stack_trace);
        prop_assert_eq!(pipeline, stack);
    }
}
