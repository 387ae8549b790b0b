//! [`Listener`]: an optional callback that receives a handle's events, and [`Traced`]:
//! how an event goes to `tracing`.

use std::fmt;
use std::sync::Arc;

/// An optional event callback, set on a handle's builder.
///
/// Handles emit events (state changes, rejections, timeouts) through a `Listener`. When
/// none is set and the event's type does not go to `tracing` (see [`Traced`]), emitting
/// costs one branch: the event is not even built.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use hardy_core::{Listener, Traced};
///
/// #[derive(Debug, Clone, PartialEq)]
/// struct Opened(&'static str);
/// impl Traced for Opened {}
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// let listener = Listener::new(move |event: &Opened| sink.lock().unwrap().push(event.clone()));
/// listener.emit_with(|| Opened("pump"));
/// Listener::<Opened>::none().emit_with(|| unreachable!("not built without a listener"));
/// assert_eq!(*seen.lock().unwrap(), [Opened("pump")]);
/// ```
pub struct Listener<Ev> {
    callback: Option<Callback<Ev>>,
}

type Callback<Ev> = Arc<dyn Fn(&Ev) + Send + Sync>;

impl<Ev> Listener<Ev> {
    /// A listener that calls `callback` with every event. The callback runs on the task
    /// that caused the event, so it should be quick (count, log or send on a channel).
    pub fn new<F>(callback: F) -> Self
    where
        F: Fn(&Ev) + Send + Sync + 'static,
    {
        Listener {
            callback: Some(Arc::new(callback)),
        }
    }

    /// No listener: events are dropped before they are built.
    #[must_use]
    pub fn none() -> Self {
        Listener { callback: None }
    }

    /// Whether a callback is set.
    #[must_use]
    pub fn is_set(&self) -> bool {
        self.callback.is_some()
    }
}

impl<Ev: Traced> Listener<Ev> {
    /// Builds the event with `event` and passes it to the callback, if one is set, and
    /// to `tracing`, if its type goes there and the current filter may want it.
    #[inline]
    pub fn emit_with(&self, event: impl FnOnce() -> Ev) {
        let traced = Ev::wanted();
        if traced || self.callback.is_some() {
            self.deliver(&event(), traced);
        }
    }

    /// Passes an event that is already built to the callback, if one is set, and to
    /// `tracing`, as [`emit_with`](Self::emit_with) does.
    #[inline]
    pub fn emit(&self, event: &Ev) {
        self.deliver(event, Ev::wanted());
    }

    fn deliver(&self, event: &Ev, traced: bool) {
        if traced {
            event.trace();
        }
        if let Some(callback) = &self.callback {
            callback(event);
        }
    }
}

/// How a kind of event goes to `tracing`.
///
/// Each pattern crate implements it for its events; with the crate's `tracing` feature
/// on, [`wanted`](Self::wanted) asks `tracing` whether the current filter lets any of
/// its levels through and [`trace`](Self::trace) records the event (at its level, under
/// the crate's target, with the handle's name and the facts of the event as fields).
/// Without the feature both keep their defaults, which cost nothing: the event is not
/// built unless a listener is set. An event type of one's own, for a [`Listener`] of
/// one's own, implements it with no methods.
pub trait Traced {
    /// Whether the current `tracing` filter may let some event of this type through (a
    /// cheap check, made before the event is built). Default: `false`, never traced.
    #[inline(always)]
    fn wanted() -> bool {
        false
    }

    /// Records this event with `tracing`. Default: nothing.
    #[inline(always)]
    fn trace(&self) {}
}

impl<Ev> Clone for Listener<Ev> {
    fn clone(&self) -> Self {
        Listener {
            callback: self.callback.clone(),
        }
    }
}

impl<Ev> Default for Listener<Ev> {
    fn default() -> Self {
        Listener::none()
    }
}

impl<Ev> fmt::Debug for Listener<Ev> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() {
            "Listener(set)"
        } else {
            "Listener(none)"
        })
    }
}

impl<Ev, F> From<F> for Listener<Ev>
where
    F: Fn(&Ev) + Send + Sync + 'static,
{
    fn from(callback: F) -> Self {
        Listener::new(callback)
    }
}
