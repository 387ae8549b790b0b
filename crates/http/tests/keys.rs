//! Keys read from requests: the peer, the client behind trusted proxies (and spoofed
//! headers from peers that are not trusted), a header, the route, one for all.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hardy_http::key::{self, ClientAddr, ClientIp, Forwarding, Global, HeaderKey, PeerAddr};
use hardy_http::{Problems, RejectionLayer};
use hardy_rate_limit::KeyedRateLimiter;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use tower::{ServiceBuilder, ServiceExt};

fn ip(text: &str) -> IpAddr {
    text.parse().expect("an IP address")
}

fn from_peer(peer: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut builder = Request::builder().uri("/plants/7");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut request = builder.body(()).expect("a valid request");
    let peer: SocketAddr = peer.parse().expect("a socket address");
    request.extensions_mut().insert(PeerAddr(peer));
    request
}

fn behind_proxies() -> ClientIp {
    ClientIp::new()
        .trust("10.0.0.0/8")
        .expect("a network")
        .trust("fd00::1")
        .expect("an address")
}

#[test]
fn without_trusted_proxies_every_header_is_ignored() {
    let client_ip = ClientIp::new();
    let spoofing = from_peer(
        "198.51.100.7:40000",
        &[
            ("x-forwarded-for", "203.0.113.1"),
            ("forwarded", "for=203.0.113.2"),
            ("x-real-ip", "203.0.113.3"),
        ],
    );
    for forwarding in [
        Forwarding::XForwardedFor,
        Forwarding::Forwarded,
        Forwarding::XRealIp,
    ] {
        let client = client_ip
            .clone()
            .forwarding(forwarding)
            .client_of(&spoofing);
        assert_eq!(client, ClientAddr::Ip(ip("198.51.100.7")), "{forwarding:?}");
    }
}

#[test]
fn a_peer_that_is_not_a_trusted_proxy_cannot_choose_its_address() {
    let client_ip = behind_proxies();
    // Claims to come through the proxies, and to be one of them.
    let spoofing = from_peer(
        "198.51.100.7:40000",
        &[("x-forwarded-for", "10.0.0.5, 203.0.113.1")],
    );
    assert_eq!(
        client_ip.client_of(&spoofing),
        ClientAddr::Ip(ip("198.51.100.7"))
    );
}

#[test]
fn through_trusted_proxies_the_first_untrusted_address_from_the_right() {
    let client_ip = behind_proxies();
    // The client wrote `6.6.6.6, 10.0.0.9` itself; the edge proxy appended the address
    // it saw (198.51.100.1), an inner proxy appended the edge's (10.0.0.3).
    let request = from_peer(
        "10.0.0.2:5000",
        &[(
            "x-forwarded-for",
            "6.6.6.6, 10.0.0.9, 198.51.100.1, 10.0.0.3",
        )],
    );
    assert_eq!(
        client_ip.client_of(&request),
        ClientAddr::Ip(ip("198.51.100.1"))
    );
    // The chain may come in several header lines, in order.
    let split = from_peer(
        "10.0.0.2:5000",
        &[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.1, 10.0.0.3"),
        ],
    );
    assert_eq!(
        client_ip.client_of(&split),
        ClientAddr::Ip(ip("198.51.100.1"))
    );
    // Everyone on the chain is a proxy: the farthest is the client.
    let internal = from_peer(
        "10.0.0.2:5000",
        &[("x-forwarded-for", "10.1.1.1, 10.0.0.3")],
    );
    assert_eq!(
        client_ip.client_of(&internal),
        ClientAddr::Ip(ip("10.1.1.1"))
    );
    // No header: the proxy itself.
    let bare = from_peer("10.0.0.2:5000", &[]);
    assert_eq!(client_ip.client_of(&bare), ClientAddr::Ip(ip("10.0.0.2")));
}

#[test]
fn an_entry_that_is_not_an_address_stops_at_the_last_known_proxy() {
    let client_ip = behind_proxies();
    let request = from_peer(
        "10.0.0.2:5000",
        &[("x-forwarded-for", "203.0.113.1, not-an-address, 10.0.0.3")],
    );
    assert_eq!(
        client_ip.client_of(&request),
        ClientAddr::Ip(ip("10.0.0.3"))
    );
}

#[test]
fn only_the_configured_header_is_read() {
    // The proxies set X-Forwarded-For; the client sent the other two itself.
    let request = from_peer(
        "10.0.0.2:5000",
        &[
            ("forwarded", "for=203.0.113.66"),
            ("x-real-ip", "203.0.113.77"),
        ],
    );
    assert_eq!(
        behind_proxies().client_of(&request),
        ClientAddr::Ip(ip("10.0.0.2"))
    );
}

#[test]
fn forwarded_and_x_real_ip_from_trusted_proxies() {
    let forwarded = from_peer(
        "[fd00::1]:443",
        &[(
            "forwarded",
            r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.3"#,
        )],
    );
    let client_ip = behind_proxies().forwarding(Forwarding::Forwarded);
    assert_eq!(
        client_ip.client_of(&forwarded),
        ClientAddr::Ip(ip("2001:db8:cafe::17"))
    );
    let real_ip = from_peer("10.0.0.2:5000", &[("x-real-ip", "203.0.113.5")]);
    let client_ip = behind_proxies().forwarding(Forwarding::XRealIp);
    assert_eq!(
        client_ip.client_of(&real_ip),
        ClientAddr::Ip(ip("203.0.113.5"))
    );
    let garbage = from_peer("10.0.0.2:5000", &[("x-real-ip", "nonsense")]);
    assert_eq!(
        client_ip.client_of(&garbage),
        ClientAddr::Ip(ip("10.0.0.2"))
    );
}

#[test]
fn a_bad_trusted_proxy_is_refused_by_name() {
    let error = ClientIp::new()
        .trust("10.0.0.0/33")
        .expect_err("no such network");
    assert_eq!(error.field(), "trusted_proxies");
    assert!(error.to_string().contains("10.0.0.0/33"), "{error}");
}

#[cfg(feature = "axum")]
#[test]
fn peers_from_axum_connect_info_and_dual_stack_listeners() {
    use axum::extract::ConnectInfo;
    let mut request = Request::new(());
    let mapped: SocketAddr = "[::ffff:192.0.2.9]:80".parse().expect("an address");
    request.extensions_mut().insert(ConnectInfo(mapped));
    assert_eq!(key::peer_ip()(&request), ClientAddr::Ip(ip("192.0.2.9")));
    assert_eq!(key::peer_ip()(&Request::new(())), ClientAddr::Unknown);
    assert_eq!(
        ClientIp::new().client_of(&Request::new(())),
        ClientAddr::Unknown
    );
    assert_eq!(ClientAddr::Unknown.to_string(), "unknown");
}

#[test]
fn header_and_global_keys() {
    let api_key = key::header(http::header::AUTHORIZATION);
    let with = from_peer("192.0.2.1:1", &[("authorization", "Bearer abc")]);
    let without = from_peer("192.0.2.1:1", &[]);
    assert_eq!(
        api_key(&with),
        HeaderKey(Some(HeaderValue::from_static("Bearer abc")))
    );
    assert_eq!(api_key(&without), HeaderKey(None));
    assert_eq!(api_key(&with).to_string(), "Bearer abc");
    assert_eq!(key::global()(&with), Global);
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn routes_are_matched_patterns_after_routing() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = {
        let seen = seen.clone();
        axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let seen = seen.clone();
                async move {
                    seen.lock()
                        .expect("not poisoned")
                        .push(key::route()(&request));
                    next.run(request).await
                }
            },
        )
    };
    let app = axum::Router::new()
        .route("/plants/{id}", axum::routing::get(|| async { "a plant" }))
        .route_layer(record);
    for id in [1, 2] {
        let request = Request::get(format!("/plants/{id}"))
            .body(axum::body::Body::empty())
            .expect("a valid request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
    }
    let seen = seen.lock().expect("not poisoned").clone();
    let expected = key::Route {
        method: Method::GET,
        path: "/plants/{id}".into(),
    };
    assert_eq!(seen, vec![expected.clone(), expected]);
    // Without a router: the path.
    let plain = Request::post("/water?ml=100")
        .body(())
        .expect("a valid request");
    assert_eq!(key::route()(&plain).to_string(), "POST /water");
}

/// Each client behind the proxy has its own rate; one rotating a spoofed
/// `X-Forwarded-For` stays one client.
#[tokio::test(start_paused = true)]
async fn a_keyed_limit_per_client_behind_a_proxy() {
    let per_client = KeyedRateLimiter::builder("per-client")
        .per(2, Duration::from_secs(60))
        .build_keyed::<ClientAddr>()
        .expect("a valid limit");
    let service = ServiceBuilder::new()
        .layer(RejectionLayer::new().problems(Problems::Off).answer_all())
        .layer(per_client.layer(behind_proxies().key::<()>()))
        .service_fn(|_: Request<()>| async {
            Ok::<_, tower::BoxError>(Response::new(String::new()))
        });
    let mut statuses = Vec::new();
    // The client at 203.0.113.1 rotates what it claims to be, through the proxy.
    for n in 0..4 {
        let chain = format!("192.0.2.{n}, 203.0.113.1");
        let request = from_peer("10.0.0.2:5000", &[("x-forwarded-for", &chain)]);
        statuses.push(
            service
                .clone()
                .oneshot(request)
                .await
                .expect("answered")
                .status(),
        );
    }
    // Another client through the same proxy still has its own two.
    let other = from_peer("10.0.0.2:5000", &[("x-forwarded-for", "203.0.113.2")]);
    statuses.push(
        service
            .clone()
            .oneshot(other)
            .await
            .expect("answered")
            .status(),
    );
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::OK
        ]
    );
    assert_eq!(per_client.len(), 2);
}
