//! [`CloneRequest`]: how a retry keeps a copy of a request for the next attempt.

/// Makes the copy of a request that the next attempt sends; `None` means the request
/// cannot be sent again, so the call gets one attempt.
///
/// Implemented by [`Cloned`] (the default: `Req: Clone`), [`SendOnce`], and closures
/// `Fn(&Req) -> Option<Req>` — for a request whose body may be cloned only while it is
/// buffered, say.
///
/// # Examples
///
/// ```
/// use hardy_retry::CloneRequest;
///
/// struct Upload { bytes: Option<Vec<u8>> } // None: a stream, sent once
///
/// let buffered_only = |upload: &Upload| upload.bytes.clone().map(|bytes| Upload { bytes: Some(bytes) });
/// assert!(buffered_only.clone_request(&Upload { bytes: None }).is_none());
/// assert!(buffered_only.clone_request(&Upload { bytes: Some(vec![1]) }).is_some());
/// ```
#[diagnostic::on_unimplemented(
    message = "a retry cannot copy a `{Req}` for another attempt",
    label = "requests must be Clone, or use `clone_requests(SendOnce)`",
    note = "requests must be Clone, or use `clone_requests(SendOnce)` (each request sent once, never retried), or a closure `Fn(&Req) -> Option<Req>` copying what can be sent again"
)]
pub trait CloneRequest<Req> {
    /// A copy of `request` for another attempt, or `None` when it cannot be sent again.
    fn clone_request(&self, request: &Req) -> Option<Req>;
}

/// Copies requests with `Clone`: every request may be retried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cloned;

impl<Req: Clone> CloneRequest<Req> for Cloned {
    #[inline]
    fn clone_request(&self, request: &Req) -> Option<Req> {
        Some(request.clone())
    }
}

/// Never copies: each request is sent once and never retried (a write that must not be
/// repeated, a request that cannot be cloned).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendOnce;

impl<Req> CloneRequest<Req> for SendOnce {
    #[inline]
    fn clone_request(&self, _: &Req) -> Option<Req> {
        None
    }
}

impl<Req, F> CloneRequest<Req> for F
where
    F: Fn(&Req) -> Option<Req>,
{
    #[inline]
    fn clone_request(&self, request: &Req) -> Option<Req> {
        self(request)
    }
}
