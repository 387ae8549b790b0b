//! Keys read from HTTP requests, for keyed rate limits and fair load shedding: the peer
//! address, the client's address behind trusted proxies, a header, the route, or one
//! key for all.
//!
//! Each function returns a closure `Fn(&Request<B>) -> Key`, which is what
//! [`KeyedRateLimiter::layer`](hardy_rate_limit::KeyedRateLimiter::layer) and a load
//! shedder's `client_of` take. Every key type has a `Display`, so a limiter shared
//! through Redis can name it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use hardy_core::ConfigError;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use ipnet::IpNet;

/// A request's peer address, for servers other than axum's: insert it into the
/// request's extensions where the connection is accepted. (An axum app served with
/// `into_make_service_with_connect_info::<SocketAddr>()` needs nothing: its
/// `ConnectInfo` is read, with the `axum` feature.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

/// The address of the peer that sent `request`, from [`PeerAddr`] or axum's
/// `ConnectInfo<SocketAddr>`; IPv4 addresses mapped into IPv6 (a dual-stack listener's
/// `::ffff:a.b.c.d`) are given as IPv4.
#[must_use]
pub fn peer_addr<B>(request: &Request<B>) -> Option<SocketAddr> {
    let extensions = request.extensions();
    let found = extensions.get::<PeerAddr>().map(|peer| peer.0);
    #[cfg(feature = "axum")]
    let found = found.or_else(|| {
        extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|info| info.0)
    });
    found.map(|addr| SocketAddr::new(addr.ip().to_canonical(), addr.port()))
}

/// A client as a key: its IP address, or `Unknown` when the request does not say (no
/// peer address was recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientAddr {
    /// The client's address.
    Ip(IpAddr),
    /// No address known: every such request shares this one key.
    Unknown,
}

impl ClientAddr {
    /// The address, if known.
    #[must_use]
    pub fn ip(self) -> Option<IpAddr> {
        match self {
            ClientAddr::Ip(ip) => Some(ip),
            ClientAddr::Unknown => None,
        }
    }
}

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientAddr::Ip(ip) => ip.fmt(f),
            ClientAddr::Unknown => f.write_str("unknown"),
        }
    }
}

/// One key for every request: a keyed limit or fair shedder that treats all clients
/// as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Global;

impl fmt::Display for Global {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("global")
    }
}

/// The same key, [`Global`], for every request.
pub fn global<B>() -> impl Fn(&Request<B>) -> Global + Clone + Send + Sync + 'static {
    |_: &Request<B>| Global
}

/// The peer's IP address: the address the connection came from, whatever the request's
/// headers say. Behind a proxy, every client has the proxy's address: use
/// [`ClientIp`] there.
pub fn peer_ip<B>() -> impl Fn(&Request<B>) -> ClientAddr + Clone + Send + Sync + 'static {
    // With no proxy trusted, the client is the peer.
    ClientIp::new().key()
}

/// A header's value as a key, such as an API key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeaderKey(pub Option<HeaderValue>);

impl fmt::Display for HeaderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(value) => f.write_str(&String::from_utf8_lossy(value.as_bytes())),
            None => f.write_str("(none)"),
        }
    }
}

/// The value of header `name` (its first, if sent more than once); requests without it
/// share the key `HeaderKey(None)`.
///
/// A header is what the client says: keying a limit on it limits each value, not each
/// client. Check the value (an API key against its owner) before trusting it further.
pub fn header<B>(
    name: HeaderName,
) -> impl Fn(&Request<B>) -> HeaderKey + Clone + Send + Sync + 'static {
    move |request: &Request<B>| HeaderKey(request.headers().get(&name).cloned())
}

/// A request's method and route as a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    /// The method.
    pub method: Method,
    /// The route: axum's matched route (`/plants/{id}`) with the `axum` feature when the
    /// router matched one, else the request's path.
    pub path: String,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// The method and route of each request. With the `axum` feature and a layer applied
/// with `Router::route_layer` (after routing), the route is the matched pattern, so
/// `/plants/1` and `/plants/2` share one key; otherwise it is the path, one key per
/// path.
pub fn route<B>() -> impl Fn(&Request<B>) -> Route + Clone + Send + Sync + 'static {
    |request: &Request<B>| {
        #[cfg(feature = "axum")]
        if let Some(matched) = request.extensions().get::<axum::extract::MatchedPath>() {
            return Route {
                method: request.method().clone(),
                path: matched.as_str().to_owned(),
            };
        }
        Route {
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
        }
    }
}

/// The header a trusted proxy records the client's address in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Forwarding {
    /// `X-Forwarded-For: client, proxy1, proxy2`: each proxy appends the address it
    /// received the request from.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`: the standard form of the same.
    Forwarded,
    /// `X-Real-IP: client`: one address, set by the last proxy.
    XRealIp,
}

/// Finds the client's IP address: the peer's, unless the peer is a trusted proxy, and
/// then the address the proxies recorded in the one header they are configured to set.
///
/// Secure by default: with no trusted proxy (as [`ClientIp::new`] starts), every header
/// is ignored, so a client cannot choose its own key by sending one. Behind proxies,
/// the chain is read from the right (the nearest proxy) leftwards, skipping trusted
/// proxies; the first address not trusted is the client. Addresses a client wrote
/// further left are never reached, and an entry that is not an address stops the walk
/// at the last proxy known.
///
/// # Examples
///
/// ```
/// use std::net::SocketAddr;
/// use hardy_http::key::{ClientAddr, ClientIp, PeerAddr};
///
/// let client_ip = ClientIp::new().trust("10.0.0.0/8")?;
/// let request = |peer: &str, forwarded_for: &str| {
///     let mut request = http::Request::builder()
///         .header("x-forwarded-for", forwarded_for)
///         .body(())
///         .expect("a valid request");
///     let peer: SocketAddr = peer.parse().expect("an address");
///     request.extensions_mut().insert(PeerAddr(peer));
///     request
/// };
/// // Through the trusted proxy 10.0.0.2: the client it saw.
/// let through_proxy = request("10.0.0.2:5000", "1.1.1.1, 203.0.113.9");
/// assert_eq!(client_ip.client_of(&through_proxy), ClientAddr::Ip("203.0.113.9".parse()?));
/// // Straight from the internet, the header is the client's own claim: ignored.
/// let spoofed = request("198.51.100.7:5000", "10.0.0.1");
/// assert_eq!(client_ip.client_of(&spoofed), ClientAddr::Ip("198.51.100.7".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ClientIp {
    trusted: Arc<[IpNet]>,
    forwarding: Forwarding,
}

impl ClientIp {
    /// No proxy trusted: the client is the peer, whatever the headers say.
    #[must_use]
    pub fn new() -> Self {
        ClientIp::default()
    }

    /// Trusts the proxies in `network`: an address (`10.0.0.7`, `::1`) or a network
    /// (`10.0.0.0/8`, `fd00::/8`).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `trusted_proxies` and the value when it is neither.
    pub fn trust(self, network: &str) -> Result<Self, ConfigError> {
        let parsed = IpNet::from_str(network)
            .or_else(|_| IpAddr::from_str(network).map(IpNet::from))
            .map_err(|_| {
                ConfigError::new(
                    "client_ip",
                    "client-ip",
                    "trusted_proxies",
                    network,
                    "must be an IP address or a network such as 10.0.0.0/8",
                )
            })?;
        Ok(self.trust_network(parsed))
    }

    /// Trusts the proxies in `network`.
    #[must_use]
    pub fn trust_network(self, network: impl Into<IpNet>) -> Self {
        let mut trusted = self.trusted.to_vec();
        trusted.push(network.into());
        ClientIp {
            trusted: trusted.into(),
            ..self
        }
    }

    /// Which header the trusted proxies set (default [`Forwarding::XForwardedFor`]).
    /// Only this one is read: a client could send any of the others, and a proxy that
    /// does not set a header passes the client's own through.
    #[must_use]
    pub fn forwarding(self, forwarding: Forwarding) -> Self {
        ClientIp { forwarding, ..self }
    }

    /// The proxies trusted.
    #[must_use]
    pub fn trusted(&self) -> &[IpNet] {
        &self.trusted
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|network| network.contains(&ip))
    }

    /// The client that sent `request`.
    #[must_use]
    pub fn client_of<B>(&self, request: &Request<B>) -> ClientAddr {
        let Some(peer) = peer_addr(request) else {
            return ClientAddr::Unknown;
        };
        let mut client = peer.ip();
        if !self.is_trusted(client) {
            return ClientAddr::Ip(client);
        }
        let chain = recorded_chain(request.headers(), self.forwarding);
        for entry in chain.iter().rev() {
            match entry {
                Some(ip) => {
                    client = *ip;
                    if !self.is_trusted(client) {
                        break;
                    }
                }
                None => break,
            }
        }
        ClientAddr::Ip(client)
    }

    /// The client of each request, as a key.
    pub fn key<B>(self) -> impl Fn(&Request<B>) -> ClientAddr + Clone + Send + Sync + 'static {
        move |request: &Request<B>| self.client_of(request)
    }
}

/// The addresses recorded in `forwarding`'s header, leftmost (the farthest) first;
/// `None` for an entry that is not an address.
fn recorded_chain(headers: &HeaderMap, forwarding: Forwarding) -> Vec<Option<IpAddr>> {
    let lines = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .map(|line| line.to_str().ok())
            .collect::<Vec<_>>()
    };
    match forwarding {
        Forwarding::XForwardedFor => lines("x-forwarded-for")
            .into_iter()
            .flat_map(|line| match line {
                Some(line) => line.split(',').map(parse_node).collect(),
                None => vec![None],
            })
            .collect(),
        Forwarding::Forwarded => lines("forwarded")
            .into_iter()
            .flat_map(|line| match line {
                Some(line) => line.split(',').map(forwarded_for).collect(),
                None => vec![None],
            })
            .collect(),
        // One address, set by the nearest proxy: the last line if sent more than once.
        Forwarding::XRealIp => lines("x-real-ip")
            .last()
            .map(|line| vec![line.and_then(parse_node)])
            .unwrap_or_default(),
    }
}

/// The `for=` node of one RFC 7239 element (`for=192.0.2.60;proto=http`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_node(value.trim().trim_matches('"')))
            .flatten()
    })
}

/// An address as proxies write it: `192.0.2.60`, `192.0.2.60:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711`; anything else (`unknown`, `_hidden`) is
/// not an address.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    let ip = IpAddr::from_str(node)
        .ok()
        .or_else(|| SocketAddr::from_str(node).ok().map(|addr| addr.ip()))
        .or_else(|| {
            node.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| IpAddr::from_str(inner).ok())
        })?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_in_every_form_proxies_write() {
        let v4: IpAddr = "192.0.2.60".parse().expect("v4");
        let v6: IpAddr = "2001:db8::1".parse().expect("v6");
        assert_eq!(parse_node(" 192.0.2.60 "), Some(v4));
        assert_eq!(parse_node("192.0.2.60:4711"), Some(v4));
        assert_eq!(parse_node("2001:db8::1"), Some(v6));
        assert_eq!(parse_node("[2001:db8::1]"), Some(v6));
        assert_eq!(parse_node("[2001:db8::1]:4711"), Some(v6));
        assert_eq!(parse_node("::ffff:192.0.2.60"), Some(v4));
        assert_eq!(parse_node("unknown"), None);
        assert_eq!(parse_node("_hidden"), None);
        assert_eq!(parse_node(""), None);
    }

    #[test]
    fn forwarded_elements() {
        let v6: IpAddr = "2001:db8:cafe::17".parse().expect("v6");
        assert_eq!(forwarded_for(r#"for="[2001:db8:cafe::17]:4711""#), Some(v6));
        assert_eq!(
            forwarded_for("proto=http;For=192.0.2.43;by=203.0.113.60"),
            Some("192.0.2.43".parse().expect("v4"))
        );
        assert_eq!(forwarded_for("proto=https"), None);
        assert_eq!(forwarded_for("for=unknown"), None);
    }
}
