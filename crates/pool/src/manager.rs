//! [`Manager`]: how a pool makes, checks and closes its objects.

use std::future::Future;

/// How a [`Pool`](crate::Pool) makes, resets, checks and closes its objects (database
/// connections, sessions, device handles).
///
/// Only [`create`](Manager::create) is required. [`recycle`](Manager::recycle) resets
/// an object returned to the pool before it is handed out again;
/// [`is_valid`](Manager::is_valid) checks an object that sat idle (on checkout, after
/// `validate_after_idle`, and in keepalives); [`destroy`](Manager::destroy) closes one.
///
/// # Examples
///
/// ```
/// use hardy_pool::Manager;
///
/// struct Sessions;
///
/// impl Manager for Sessions {
///     type Object = Vec<u8>;
///     type Error = std::io::Error;
///
///     async fn create(&self) -> Result<Vec<u8>, std::io::Error> {
///         Ok(Vec::with_capacity(4096))
///     }
///
///     async fn recycle(&self, buffer: &mut Vec<u8>) -> Result<(), std::io::Error> {
///         buffer.clear();
///         Ok(())
///     }
/// }
/// ```
pub trait Manager: Send + Sync + 'static {
    /// What the pool holds.
    type Object: Send + 'static;
    /// Why making, resetting or checking an object failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Makes a new object.
    fn create(&self) -> impl Future<Output = Result<Self::Object, Self::Error>> + Send;

    /// Resets an object returned to the pool, before it is handed out again; an error
    /// closes it. Default: nothing to reset.
    fn recycle(
        &self,
        _object: &mut Self::Object,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        async { Ok(()) }
    }

    /// Whether an idle object still works; `false` (or an error) closes it. Default:
    /// always valid.
    fn is_valid(
        &self,
        _object: &mut Self::Object,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        async { Ok(true) }
    }

    /// Closes an object for good. Default: drops it.
    fn destroy(&self, object: Self::Object) {
        drop(object);
    }
}
