//! Tests of trusted-proxy resolution and CIDR parsing.

use std::net::IpAddr;

use http::{HeaderMap, HeaderValue, Request};

use super::*;
use crate::config::ClientIpConfig;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn resolver(trusted: &[&str], header: ForwardedHeader) -> ClientResolver {
    ClientResolver::new(&ClientIpConfig {
        trusted_proxies: trusted.iter().map(|net| net.parse().unwrap()).collect(),
        forwarded_header: header,
    })
}

fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for value in values {
        map.append(name, HeaderValue::from_str(value).unwrap());
    }
    map
}

#[test]
fn cidr_parsing_and_matching() {
    let net: IpNet = "10.0.0.0/8".parse().unwrap();
    assert!(net.contains(ip("10.200.0.1")));
    assert!(net.contains(ip("::ffff:10.1.2.3")), "mapped IPv4 matches");
    assert!(!net.contains(ip("11.0.0.1")));
    assert!(!net.contains(ip("::1")));
    let v6: IpNet = "2001:db8::/32".parse().unwrap();
    assert!(v6.contains(ip("2001:db8:ffff::1")));
    assert!(!v6.contains(ip("2001:db9::1")));
    let host: IpNet = "192.0.2.1".parse().unwrap();
    assert!(host.contains(ip("192.0.2.1")));
    assert!(!host.contains(ip("192.0.2.2")));
    let mapped: IpNet = "::ffff:10.0.0.0/104".parse().unwrap();
    assert_eq!(mapped, "10.0.0.0/8".parse().unwrap());
    let everything: IpNet = "0.0.0.0/0".parse().unwrap();
    assert!(everything.contains(ip("203.0.113.1")));
    for bad in [
        "10.0.0.0/33",
        "::/129",
        "10.0.0/8",
        "",
        "x/8",
        "10.0.0.0/-1",
    ] {
        assert!(bad.parse::<IpNet>().is_err(), "{bad:?}");
    }
}

#[test]
fn untrusted_peer_header_ignored() {
    let resolver = resolver(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
    let forged = headers("x-forwarded-for", &["198.51.100.1"]);
    assert_eq!(
        resolver.resolve_from(ip("203.0.113.10"), &forged),
        ip("203.0.113.10")
    );
}

#[test]
fn chain_read_from_the_right() {
    let resolver = resolver(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
    let cases = [
        (vec!["198.51.100.99, 192.0.2.7"], "192.0.2.7"),
        (vec!["192.0.2.7, 10.0.0.5, 10.0.0.6"], "192.0.2.7"),
        (vec!["203.0.113.9", "192.0.2.7, 10.0.0.5"], "192.0.2.7"),
        (vec!["192.0.2.9", "10.0.0.5"], "192.0.2.9"),
        (vec!["10.0.0.7"], "10.0.0.7"),
        (vec!["192.0.2.7:4711"], "192.0.2.7"),
        (vec!["[2001:db8::1]:80"], "2001:db8::1"),
        (vec!["::ffff:192.0.2.7"], "192.0.2.7"),
        (vec!["\"192.0.2.7\""], "192.0.2.7"),
    ];
    for (values, expected) in cases {
        let map = headers("x-forwarded-for", &values);
        assert_eq!(
            resolver.resolve_from(ip("10.0.0.2"), &map),
            ip(expected),
            "{values:?}"
        );
    }
}

#[test]
fn malformed_entries_stop_at_last_trusted_hop() {
    let resolver = resolver(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
    let cases = [
        (vec!["garbage"], "10.0.0.2"),
        (vec!["192.0.2.1, garbage"], "10.0.0.2"),
        (vec!["192.0.2.1, garbage, 10.0.0.5"], "10.0.0.5"),
        (vec![""], "10.0.0.2"),
        (vec!["192.0.2.1,"], "10.0.0.2"),
        (vec!["192.0.2.1:99999"], "10.0.0.2"),
        (vec!["192.0.2.1:"], "10.0.0.2"),
        (vec!["[2001:db8::1"], "10.0.0.2"),
        (vec!["[2001:db8::1]x"], "10.0.0.2"),
        (vec!["unknown"], "10.0.0.2"),
        (vec!["1.2.3.4.5"], "10.0.0.2"),
    ];
    for (values, expected) in cases {
        let map = headers("x-forwarded-for", &values);
        assert_eq!(
            resolver.resolve_from(ip("10.0.0.2"), &map),
            ip(expected),
            "{values:?}"
        );
    }
    let mut binary = HeaderMap::new();
    binary.append(
        "x-forwarded-for",
        HeaderValue::from_bytes(b"192.0.2.1\xff").unwrap(),
    );
    assert_eq!(
        resolver.resolve_from(ip("10.0.0.2"), &binary),
        ip("10.0.0.2")
    );
}

#[test]
fn forwarded_header_parsed() {
    let resolver = resolver(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
    let cases = [
        (
            vec!["for=198.51.100.1, for=192.0.2.7;proto=https"],
            "192.0.2.7",
        ),
        (vec!["For=\"[2001:db8::7]:4711\""], "2001:db8::7"),
        (vec!["proto=http;for=192.0.2.7;by=10.0.0.1"], "192.0.2.7"),
        (vec!["for=_hidden"], "10.0.0.2"),
        (vec!["for=unknown"], "10.0.0.2"),
        (vec!["proto=https"], "10.0.0.2"),
    ];
    for (values, expected) in cases {
        let map = headers("forwarded", &values);
        assert_eq!(
            resolver.resolve_from(ip("10.0.0.2"), &map),
            ip(expected),
            "{values:?}"
        );
    }
    // The other header is not read in this mode.
    let xff = headers("x-forwarded-for", &["192.0.2.9"]);
    assert_eq!(resolver.resolve_from(ip("10.0.0.2"), &xff), ip("10.0.0.2"));
}

#[test]
fn forwarded_proto_only_from_trusted_peer() {
    let resolver = resolver(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
    let request = |peer: &str, proto: &str| {
        let mut request = Request::builder()
            .header("x-forwarded-proto", proto)
            .body(())
            .unwrap();
        let addr = std::net::SocketAddr::new(ip(peer), 1);
        request.extensions_mut().insert(PeerAddr(addr));
        request
    };
    assert!(resolver.forwarded_https(&request("10.0.0.2", "https")));
    assert!(resolver.forwarded_https(&request("10.0.0.2", "HTTPS")));
    assert!(resolver.forwarded_https(&request("10.0.0.2", "http, https")));
    assert!(!resolver.forwarded_https(&request("10.0.0.2", "https, http")));
    assert!(!resolver.forwarded_https(&request("203.0.113.1", "https")));
    assert!(!resolver.forwarded_https(&Request::new(())));
}

#[test]
fn forwarded_quoted_strings_never_split_elements() {
    let resolver = resolver(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
    let cases = [
        // Commas and semicolons inside a quoted host= value belong to that value.
        (
            r#"for=203.0.113.5;host="a,for=198.51.100.77;x=""#,
            "203.0.113.5",
        ),
        (
            r#"host="a,for=198.51.100.78;x=";for=203.0.113.5"#,
            "203.0.113.5",
        ),
        (
            r#"for=198.51.100.1, for=203.0.113.5;host="b;for=198.51.100.79""#,
            "203.0.113.5",
        ),
        // An escaped quote does not end the quoted string.
        (
            r#"for=203.0.113.5;host="a\",for=198.51.100.80;x=\"""#,
            "203.0.113.5",
        ),
        (r#"for="203.0.113.6";host="a\\""#, "203.0.113.6"),
        // Unterminated quotes, stray characters and repeated parameters are malformed: the
        // last trusted hop is the client.
        (r#"for=203.0.113.5;host="a,for=198.51.100.81"#, "10.0.0.2"),
        (r#"for=198.51.100.82, for="203.0.113.5"#, "10.0.0.2"),
        (r#"host="a\"#, "10.0.0.2"),
        (r#"for=203.0.113.5;host="a"b"#, "10.0.0.2"),
        (r#"for=198.51.100.83;for=203.0.113.5"#, "10.0.0.2"),
        (r#"for=203.0.113.5;=x"#, "10.0.0.2"),
        (r#"for=203.0.113.5;host"#, "10.0.0.2"),
        (r#"for=203.0.113.5;ho st=x"#, "10.0.0.2"),
        // A malformed element behind a trusted hop stops the walk at that hop.
        (r#"for=198.51.100.84;host="x, for=10.0.0.9"#, "10.0.0.2"),
        (
            r#"for="198.51.100.85, for=10.0.0.9, for=203.0.113.7"#,
            "10.0.0.2",
        ),
        (
            r#"for=203.0.113.8, for=10.0.0.9;host="a,b", for=10.0.0.3"#,
            "203.0.113.8",
        ),
    ];
    for (value, expected) in cases {
        let map = headers("forwarded", &[value]);
        assert_eq!(
            resolver.resolve_from(ip("10.0.0.2"), &map),
            ip(expected),
            "{value}"
        );
    }
}

#[test]
fn trusting_every_address_warns() {
    let build = |nets: &[&str]| {
        let (logs, _guard) = crate::rate_limit::tests::logs::capture_logs();
        ClientIpLayer::new(&ClientIpConfig {
            trusted_proxies: nets.iter().map(|net| net.parse().unwrap()).collect(),
            forwarded_header: ForwardedHeader::XForwardedFor,
        });
        logs.text()
    };
    let text = build(&["10.0.0.0/8", "::1"]);
    assert!(!text.contains("WARN"), "{text}");
    for everything in ["0.0.0.0/0", "::/0", "::ffff:0.0.0.0/96"] {
        let text = build(&["10.0.0.0/8", everything]);
        assert!(text.contains("WARN"), "{everything}: {text}");
        assert!(text.contains("every peer"), "{everything}: {text}");
    }
}
