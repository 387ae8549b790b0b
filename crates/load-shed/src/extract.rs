//! What a shedder knows of a call: its [`Priority`] and client, given directly as a
//! [`CallInfo`] or read from each request by [`PriorityOf`] and [`ClientOf`].

use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};

/// How important a call is: level 0 is the most important, each next level less so.
///
/// A shedder with `priorities` levels sheds the highest level first; a priority beyond
/// its last level counts as the last.
///
/// # Examples
///
/// ```
/// use hardy_load_shed::Priority;
///
/// assert!(Priority::HIGHEST.is_above(Priority(2)));
/// assert_eq!(Priority::from(1).level(), 1);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(pub u8);

impl Priority {
    /// The most important level, 0: also every call's priority unless told otherwise.
    pub const HIGHEST: Priority = Priority(0);

    /// The level: 0 is the most important.
    #[must_use]
    pub fn level(self) -> u8 {
        self.0
    }

    /// Whether this priority is more important than `other`.
    #[must_use]
    pub fn is_above(self, other: Priority) -> bool {
        self.0 < other.0
    }
}

impl From<u8> for Priority {
    fn from(level: u8) -> Self {
        Priority(level)
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A call's priority and client, for the direct calls of a
/// [`LoadShedder`](crate::LoadShedder).
///
/// # Examples
///
/// ```
/// use hardy_load_shed::{CallInfo, Priority};
///
/// let info = CallInfo::new().priority(2).client(&"greenhouse-3");
/// assert_eq!(info.get_priority(), Priority(2));
/// assert_eq!(info.get_client(), CallInfo::new().client(&"greenhouse-3").get_client());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallInfo {
    /// The client's hash, never zero; zero: no client.
    client: u64,
    priority: Priority,
}

impl CallInfo {
    /// Priority 0, no client.
    #[must_use]
    pub fn new() -> Self {
        CallInfo::default()
    }

    /// Sets the priority.
    #[must_use]
    pub fn priority(mut self, priority: impl Into<Priority>) -> Self {
        self.priority = priority.into();
        self
    }

    /// Sets the client, by any hashable key (two keys with one hash are one client).
    #[must_use]
    pub fn client<K: Hash + ?Sized>(mut self, key: &K) -> Self {
        self.client = client_hash(key);
        self
    }

    /// Sets the client by its hash, as [`ClientOf`] reads it (hash 0 counts as 1).
    #[must_use]
    pub fn client_hash(mut self, hash: u64) -> Self {
        self.client = hash.max(1);
        self
    }

    /// The priority.
    #[must_use]
    pub fn get_priority(&self) -> Priority {
        self.priority
    }

    /// The client's hash, if a client was set.
    #[must_use]
    pub fn get_client(&self) -> Option<u64> {
        (self.client != 0).then_some(self.client)
    }

    /// The client's hash, zero for none.
    #[inline]
    pub(crate) fn client_id(&self) -> u64 {
        self.client
    }
}

/// The hash a client key is tracked by: SipHash with fixed keys, the same in every
/// process.
/// Never zero, which means "no client" inside the shedder.
pub(crate) fn client_hash<K: Hash + ?Sized>(key: &K) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish().max(1)
}

/// Reads a request's priority, for a [`LoadShedLayer`](crate::LoadShedLayer): any
/// `Fn(&Req) -> Priority`, or [`SamePriority`].
pub trait PriorityOf<Req> {
    /// The priority of `request`.
    fn priority_of(&self, request: &Req) -> Priority;
}

impl<Req, F> PriorityOf<Req> for F
where
    F: Fn(&Req) -> Priority,
{
    #[inline]
    fn priority_of(&self, request: &Req) -> Priority {
        self(request)
    }
}

/// Every request has priority 0: the default of a [`LoadShedLayer`](crate::LoadShedLayer).
#[derive(Debug, Clone, Copy, Default)]
pub struct SamePriority;

impl<Req> PriorityOf<Req> for SamePriority {
    #[inline]
    fn priority_of(&self, _: &Req) -> Priority {
        Priority::HIGHEST
    }
}

/// Reads which client sent a request, for fairness in a
/// [`LoadShedLayer`](crate::LoadShedLayer): any `Fn(&Req) -> K` where `K: Hash`, or
/// [`NoClient`].
pub trait ClientOf<Req> {
    /// The hash of `request`'s client, if it has one.
    fn client_of(&self, request: &Req) -> Option<u64>;
}

impl<Req, F, K> ClientOf<Req> for F
where
    F: Fn(&Req) -> K,
    K: Hash,
{
    #[inline]
    fn client_of(&self, request: &Req) -> Option<u64> {
        Some(client_hash(&self(request)))
    }
}

/// Requests have no client: the default of a [`LoadShedLayer`](crate::LoadShedLayer).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoClient;

impl<Req> ClientOf<Req> for NoClient {
    #[inline]
    fn client_of(&self, _: &Req) -> Option<u64> {
        None
    }
}
