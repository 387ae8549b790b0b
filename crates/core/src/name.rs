//! [`Name`]: the cheap, shared name of a handle.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// The name of a Hardy handle (`"soil-1"`, `"aws_ec2"`): it labels metrics, events,
/// rejections and configuration errors.
///
/// A `Name` is immutable and cheap to clone (one reference-count increment), so every
/// rejection and event can carry the name of the handle that produced it without
/// copying the string. It compares, hashes and orders like the `str` it holds, and
/// borrows as `str`, so a `HashMap<Name, _>` can be looked up with a `&str`.
///
/// # Examples
///
/// ```
/// use hardy_core::Name;
///
/// let name = Name::from("soil-1");
/// let copy = name.clone();
/// assert_eq!(copy, "soil-1");
/// assert_eq!(name.as_str(), "soil-1");
/// assert_eq!(format!("{name}"), "soil-1");
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(Arc<str>);

impl Name {
    /// Creates a name from anything that can become a string.
    pub fn new(name: impl Into<Name>) -> Self {
        name.into()
    }

    /// The name as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for Name {
    fn from(name: &str) -> Self {
        Name(Arc::from(name))
    }
}

impl From<&String> for Name {
    fn from(name: &String) -> Self {
        Name(Arc::from(name.as_str()))
    }
}

impl From<String> for Name {
    fn from(name: String) -> Self {
        Name(Arc::from(name))
    }
}

impl From<Box<str>> for Name {
    fn from(name: Box<str>) -> Self {
        Name(Arc::from(name))
    }
}

impl From<Arc<str>> for Name {
    fn from(name: Arc<str>) -> Self {
        Name(name)
    }
}

impl From<Cow<'_, str>> for Name {
    fn from(name: Cow<'_, str>) -> Self {
        Name(Arc::from(name))
    }
}

impl From<&Name> for Name {
    fn from(name: &Name) -> Self {
        name.clone()
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, other: &Name) -> bool {
        self == &*other.0
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        *self == &*other.0
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Name::from(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn clones_share_the_string() {
        let a = Name::from(String::from("pump-1"));
        let b = a.clone();
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
    }

    #[test]
    fn looks_up_by_str_in_a_map() {
        let mut map = HashMap::new();
        map.insert(Name::from("soil-1"), 1);
        assert_eq!(map.get("soil-1"), Some(&1));
        assert_eq!(map.get("soil-2"), None);
    }

    #[test]
    fn debug_quotes_and_display_does_not() {
        let name = Name::from("a\"b");
        assert_eq!(format!("{name}"), "a\"b");
        assert_eq!(format!("{name:?}"), "\"a\\\"b\"");
    }

    #[test]
    fn orders_like_str() {
        let mut names = vec![Name::from("b"), Name::from("a"), Name::from("c")];
        names.sort();
        assert_eq!(names, ["a", "b", "c"]);
    }
}
