//! The messages a user gets for the bounds they most often miss: a request that is not
//! Clone behind a retry, an error type that does not implement `AsRejection`.

#[test]
fn unsatisfied_bounds_say_what_to_do() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
