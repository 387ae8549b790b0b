//! [`Spared`]: a handle and a spare of the service it guards, shared with the calls.

use std::fmt;

use crate::sync::Mutex;

/// A handle and a spare of the service it guards: what a service that makes further
/// attempts (a retry's, a pipeline's) shares with its calls, behind the one reference
/// each call holds.
///
/// A call that needs another attempt clones the spare; a call that succeeds at once
/// clones no service, so it touches none of the reference counts of the services
/// below. Cloning a `Spared` clones the handle and the spare.
///
/// # Examples
///
/// ```
/// use hardy_core::Spared;
///
/// let shared = Spared::new("retry-1", vec![1, 2]);
/// assert_eq!(*shared.handle(), "retry-1");
/// assert_eq!(shared.spare(), vec![1, 2]);
/// ```
pub struct Spared<H, S> {
    handle: H,
    spare: Mutex<S>,
}

impl<H, S> Spared<H, S> {
    /// `handle` and `service` as the spare.
    pub fn new(handle: H, service: S) -> Self {
        Spared {
            handle,
            spare: Mutex::new(service),
        }
    }

    /// The handle.
    #[inline]
    pub fn handle(&self) -> &H {
        &self.handle
    }
}

impl<H, S: Clone> Spared<H, S> {
    /// A clone of the spare service, taken under a short lock.
    pub fn spare(&self) -> S {
        self.spare.lock().clone()
    }
}

impl<H: Clone, S: Clone> Clone for Spared<H, S> {
    fn clone(&self) -> Self {
        Spared {
            handle: self.handle.clone(),
            spare: Mutex::new(self.spare()),
        }
    }
}

impl<H: fmt::Debug, S> fmt::Debug for Spared<H, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.handle, f)
    }
}
