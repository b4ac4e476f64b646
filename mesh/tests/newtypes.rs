//! Hostile input for every newtype: newlines, YAML metacharacters, look-alikes, empty and very
//! long values. Each refusal must say what would be accepted.

use mesh::names::{
    DnsLabel, Duration, EgressHost, Fqdn, NamespacedName, PathPrefix, Port, Protocol, ServiceName,
    WildcardHost,
};

const YAML_METACHARACTERS: [char; 13] = [
    ':', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', ' ',
];

#[test]
fn dns_label_accepts_lowercase_names() {
    for ok in ["a", "team-a", "0abc", &"x".repeat(63)] {
        assert_eq!(DnsLabel::parse(ok).expect(ok).as_str(), ok);
    }
}

#[test]
fn dns_label_refuses_hostile_input_and_says_what_is_accepted() {
    let long = "x".repeat(64);
    let mut hostile = vec![
        "", "-a", "a-", "Team", "team_a", "a.b", "a\nb", "tеam", "ａ", &long,
    ];
    let with_meta: Vec<String> = YAML_METACHARACTERS
        .iter()
        .map(|c| format!("a{c}b"))
        .collect();
    hostile.extend(with_meta.iter().map(String::as_str));
    for bad in hostile {
        let error = DnsLabel::parse(bad).expect_err(bad);
        assert!(!error.message().is_empty());
        assert!(
            !error.message().contains('\n'),
            "{bad:?}: message spans lines"
        );
    }
    assert!(
        DnsLabel::parse("Team")
            .unwrap_err()
            .message()
            .contains("lowercase")
    );
    assert!(
        DnsLabel::parse("tеam")
            .unwrap_err()
            .message()
            .contains("U+0435")
    );
    assert!(DnsLabel::parse(&long).unwrap_err().message().contains("63"));
}

#[test]
fn service_name_must_start_with_a_letter() {
    assert!(ServiceName::parse("orders").is_ok());
    assert!(
        ServiceName::parse("1orders")
            .unwrap_err()
            .message()
            .contains("letter")
    );
}

#[test]
fn fqdn_accepts_ordinary_and_punycode_hosts() {
    for ok in [
        "api.stripe.com",
        "a.b",
        "xn--bcher-kva.example",
        "a-1.example.co.uk",
    ] {
        assert!(Fqdn::parse(ok).is_ok(), "{ok}");
    }
}

#[test]
fn fqdn_refuses_ips_wildcards_single_labels_and_hostile_text() {
    let long = format!("{}.com", "a.".repeat(130));
    for bad in [
        "",
        "localhost",
        "1.2.3.4",
        "::1",
        "[::1]",
        "api.stripe.com.",
        "API.stripe.com",
        "api.stripe.com:443",
        "*.stripe.com",
        "api..com",
        "-a.com",
        "a-.com",
        "аpi.stripe.com",
        "api.stripe.com\n",
        "ab--cd.com",
        "a.123",
        &long,
    ] {
        let error = Fqdn::parse(bad).expect_err(bad);
        assert!(!error.message().contains('\n'), "{bad:?}");
    }
    for c in YAML_METACHARACTERS {
        assert!(Fqdn::parse(&format!("a{c}b.com")).is_err(), "{c:?}");
    }
    assert!(Fqdn::parse("1.2.3.4").unwrap_err().message().contains("IP"));
    assert!(
        Fqdn::parse("a.com.")
            .unwrap_err()
            .message()
            .contains("trailing dot")
    );
}

#[test]
fn wildcard_host_must_be_a_whole_leftmost_label_over_a_registrable_domain() {
    assert_eq!(
        WildcardHost::parse("*.stripe.com").unwrap().suffix(),
        "stripe.com"
    );
    assert!(
        WildcardHost::parse("*")
            .unwrap_err()
            .message()
            .contains("every host")
    );
    assert!(
        WildcardHost::parse("*.com")
            .unwrap_err()
            .message()
            .contains("public suffix")
    );
    assert!(
        WildcardHost::parse("*.co.uk")
            .unwrap_err()
            .message()
            .contains("public suffix")
    );
    for bad in [
        "foo*.com",
        "*foo.com",
        "*.*.com",
        "**.a.com",
        "*.a.com\n",
        "*.",
        "",
    ] {
        assert!(WildcardHost::parse(bad).is_err(), "{bad:?}");
    }
    let suffix = format!("{}abc.com", format!("{}.", "a".repeat(60)).repeat(4));
    assert!(
        Fqdn::parse(&suffix).is_ok(),
        "the domain itself is a valid host"
    );
    let too_long = WildcardHost::parse(&format!("*.{suffix}")).unwrap_err();
    assert!(too_long.message().contains("object names"), "{too_long}");
}

#[test]
fn egress_host_parses_either_form() {
    assert!(matches!(
        EgressHost::parse("api.stripe.com"),
        Ok(EgressHost::Exact(_))
    ));
    assert!(matches!(
        EgressHost::parse("*.stripe.com"),
        Ok(EgressHost::Wildcard(_))
    ));
    assert!(EgressHost::parse("*").is_err());
}

#[test]
fn namespaced_name_needs_two_labels() {
    let gw = NamespacedName::parse("istio-ingress/public-gw").unwrap();
    assert_eq!(
        (gw.namespace().as_str(), gw.name().as_str()),
        ("istio-ingress", "public-gw")
    );
    for bad in ["public-gw", "a/b/c", "/b", "a/", "A/b", "a/b\n"] {
        assert!(NamespacedName::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn path_accepts_rfc3986_path_characters() {
    for ok in [
        "/",
        "/orders",
        "/orders/",
        "/orders/v1",
        "/a-b_c~d",
        "/a:b@c",
        "/!$&'()*+,;=",
        "/%20",
        "/.well-known",
        "/a..b",
    ] {
        assert!(PathPrefix::parse(ok).is_ok(), "{ok}");
    }
}

#[test]
fn path_with_dot_segment_is_refused() {
    for bad in ["/.", "/..", "/a/./b", "/a/../b", "/a/.."] {
        assert!(
            PathPrefix::parse(bad)
                .unwrap_err()
                .message()
                .contains("segment"),
            "{bad}"
        );
    }
}

#[test]
fn path_with_double_slash_query_or_fragment_is_refused() {
    assert!(
        PathPrefix::parse("//a")
            .unwrap_err()
            .message()
            .contains("//")
    );
    assert!(PathPrefix::parse("/a//b").is_err());
    assert!(
        PathPrefix::parse("/a?b=1")
            .unwrap_err()
            .message()
            .contains("query")
    );
    assert!(
        PathPrefix::parse("/a#top")
            .unwrap_err()
            .message()
            .contains("fragment")
    );
}

#[test]
fn path_with_encoded_traversal_or_two_spellings_is_refused() {
    for bad in [
        "/%2e%2e/etc",
        "/%2E%2E",
        "/a%2Fb",
        "/a%5Cb",
        "/%41",
        "/%00",
        "/%2",
        "/%zz",
        "/%7e",
        "/%c3%a9",
    ] {
        assert!(PathPrefix::parse(bad).is_err(), "{bad}");
    }
    assert!(PathPrefix::parse("/%C3%A9").is_ok());
}

#[test]
fn path_with_whitespace_control_or_non_path_characters_is_refused() {
    for bad in [
        "",
        "orders",
        "/a b",
        "/a\nb",
        "/a\tb",
        "/a\u{7f}",
        "/a|b",
        "/a>b",
        "/a\"b",
        "/a`b",
        "/a\\b",
        "/a{b}",
        "/а",
        "/a\u{200b}",
    ] {
        let error = PathPrefix::parse(bad).expect_err(bad);
        assert!(!error.message().contains('\n'), "{bad:?}");
    }
}

#[test]
fn path_has_a_length_limit() {
    let at_limit = format!("/{}", "a".repeat(PathPrefix::MAX_LEN - 1));
    assert!(PathPrefix::parse(&at_limit).is_ok());
    assert!(
        PathPrefix::parse(&format!("{at_limit}a"))
            .unwrap_err()
            .message()
            .contains("512")
    );
}

#[test]
fn path_segments_keep_the_trailing_slash_as_an_empty_segment() {
    let segments = |p: &str| {
        PathPrefix::parse(p)
            .unwrap()
            .segments()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(segments("/a/"), ["a", ""]);
    assert_eq!(segments("/a"), ["a"]);
    assert_eq!(segments("/"), [""]);
}

#[test]
fn port_accepts_one_to_65535() {
    assert_eq!(Port::try_from(1).unwrap().get(), 1);
    assert_eq!(Port::parse("65535").unwrap().get(), 65535);
    for bad in [0, -1, 65536, i64::MAX] {
        assert!(
            Port::try_from(bad)
                .unwrap_err()
                .message()
                .contains("1 to 65535")
        );
    }
    for bad in ["", "80a", "8 0", "0x50", "80\n1"] {
        assert!(Port::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn protocol_accepts_the_six_names_in_any_case() {
    assert_eq!(Protocol::parse("tls").unwrap(), Protocol::Tls);
    assert_eq!(Protocol::parse("HTTP2").unwrap().as_str(), "HTTP2");
    for bad in ["", "UDP", "HTTP/2", "TLS\n", "ＴＬＳ"] {
        assert!(
            Protocol::parse(bad)
                .unwrap_err()
                .message()
                .contains("HTTP, HTTPS"),
            "{bad:?}"
        );
    }
}

#[test]
fn duration_has_millisecond_precision_and_bounds() {
    assert_eq!(Duration::parse("250ms").unwrap().as_millis(), 250);
    assert_eq!(Duration::parse("1.5s").unwrap().as_millis(), 1500);
    assert_eq!(Duration::parse("2m").unwrap().as_millis(), 120_000);
    assert_eq!(
        Duration::parse("24h").unwrap().as_millis(),
        Duration::MAX_MILLIS
    );
    assert_eq!(Duration::parse("0.25s").unwrap().to_istio(), "0.250s");
    assert_eq!(Duration::parse("5s").unwrap().to_istio(), "5s");
    assert!(
        Duration::parse("0.0005s")
            .unwrap_err()
            .message()
            .contains("millisecond")
    );
    assert!(Duration::parse("0s").unwrap_err().message().contains("1ms"));
    assert!(
        Duration::parse("25h")
            .unwrap_err()
            .message()
            .contains("24h")
    );
    for bad in [
        "",
        "5",
        "s",
        "-1s",
        "1.5ms",
        "1.5m",
        "5 s",
        "5S",
        "1e3ms",
        "5s\n",
        "99999999999h",
    ] {
        assert!(Duration::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn newtypes_deserialize_through_parse() {
    assert!(serde_json::from_str::<PathPrefix>("\"/a/../b\"").is_err());
    assert!(serde_json::from_str::<Port>("0").is_err());
    let host: Fqdn = serde_json::from_str("\"api.stripe.com\"").unwrap();
    assert_eq!(serde_json::to_string(&host).unwrap(), "\"api.stripe.com\"");
}
