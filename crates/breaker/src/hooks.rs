//! Hooks for `hardy::Pipeline`, which keeps one reference to all its handles and so
//! holds a call's admission without a reference to its breaker. Not for direct use:
//! call through the breaker or its layer.

pub use crate::permit::Ticket;
