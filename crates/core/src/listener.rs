//! [`Listener`]: an optional callback that receives a handle's events.

use std::fmt;
use std::sync::Arc;

/// An optional event callback, set on a handle's builder.
///
/// Handles emit events (state changes, rejections, timeouts) through a `Listener`. When
/// none is set, emitting costs one branch: the event is not even built.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use hardy_core::Listener;
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// let listener = Listener::new(move |event: &String| sink.lock().unwrap().push(event.clone()));
/// listener.emit_with(|| "opened".to_string());
/// Listener::<String>::none().emit_with(|| unreachable!("not built without a listener"));
/// assert_eq!(*seen.lock().unwrap(), ["opened"]);
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

    /// Builds the event with `event` and passes it to the callback, if one is set.
    #[inline]
    pub fn emit_with(&self, event: impl FnOnce() -> Ev) {
        if let Some(callback) = &self.callback {
            callback(&event());
        }
    }

    /// Passes an event that is already built to the callback, if one is set.
    #[inline]
    pub fn emit(&self, event: &Ev) {
        if let Some(callback) = &self.callback {
            callback(event);
        }
    }
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
