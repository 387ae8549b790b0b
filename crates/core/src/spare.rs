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

/// A retrying service's inner service, with the [`Spared`] it shares with its calls: a
/// per-thread reference to the handle and a spare of the inner service.
///
/// [`get_mut`](Self::get_mut) lends the inner service out, so the spare may no longer
/// match it: the next [`call`](Self::call) clones the spare again first.
///
/// # Examples
///
/// ```
/// use hardy_core::SpareService;
///
/// let mut service = SpareService::new("retry-1", vec![1]);
/// service.get_mut().push(2);
/// let (shared, inner) = service.call();
/// assert_eq!((shared.spare(), inner.clone()), (vec![1, 2], vec![1, 2]));
/// ```
#[derive(Clone)]
pub struct SpareService<H, S> {
    inner: S,
    shared: crate::LocalArc<Spared<H, S>>,
    /// The inner service may have changed since the spare was cloned from it.
    stale: bool,
}

impl<H: Clone, S: Clone> SpareService<H, S> {
    /// `inner`, with a spare cloned from it and `handle`.
    pub fn new(handle: H, inner: S) -> Self {
        SpareService {
            shared: crate::LocalArc::new(Spared::new(handle, inner.clone())),
            inner,
            stale: false,
        }
    }

    /// What a call needs: what the service shares with its calls, and the inner service
    /// to call (the spare cloned again first if the inner service was lent out).
    #[inline(always)]
    pub fn call(&mut self) -> (&std::sync::Arc<Spared<H, S>>, &mut S) {
        if self.stale {
            self.renew();
        }
        (self.shared.get(), &mut self.inner)
    }

    #[cold]
    #[inline(never)]
    fn renew(&mut self) {
        self.shared = crate::LocalArc::new(Spared::new(
            self.shared.handle().handle().clone(),
            self.inner.clone(),
        ));
        self.stale = false;
    }
}

impl<H, S> SpareService<H, S> {
    /// The handle.
    #[inline]
    pub fn handle(&self) -> &H {
        self.shared.handle().handle()
    }

    /// The inner service.
    #[inline]
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably, for `poll_ready`: the spare stays as it is.
    #[inline]
    pub fn ready_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, mutably: the next call clones the spare from it again.
    pub fn get_mut(&mut self) -> &mut S {
        self.stale = true;
        &mut self.inner
    }

    /// The inner service, taken out.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<H: fmt::Debug, S: fmt::Debug> fmt::Debug for SpareService<H, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpareService")
            .field("inner", &self.inner)
            .field("handle", self.handle())
            .finish()
    }
}
