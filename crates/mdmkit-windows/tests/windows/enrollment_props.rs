#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Round-trip laws of the enrollment messages and `LocURI` normalisation.

use mdmkit_windows::LocUri;
use mdmkit_windows::enroll::{
    AuthPolicy, DiscoverResponse, EnrollmentFault, FaultType, GetPoliciesResponse, PollSchedule,
    ProtocolVersion, ProvisioningDoc, RequestSecurityToken, RequestSecurityTokenResponse,
};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    // Element text is trimmed on reading: no whitespace at the ends.
    "[!-~\u{e9}]([ -~\u{e9}]{0,16}[!-~])?"
}

proptest! {
    #[test]
    fn discovery_responses_round_trip(host in "[a-z]{1,10}\\.example", p in "[A-Za-z0-9/._-]{0,20}", e in "[A-Za-z0-9/._-]{0,20}", major in 1u16..20, minor in 0u16..10) {
        let r = DiscoverResponse::new(
            AuthPolicy::OnPremise,
            ProtocolVersion::new(major, minor),
            format!("https://{host}/{p}"),
            format!("https://{host}:443/{e}"),
        ).unwrap();
        prop_assert_eq!(DiscoverResponse::read(r.to_xml(Some("urn:uuid:1")).as_bytes()).unwrap(), r);
    }

    #[test]
    fn versions_compare_numerically(a in 0u16..100, b in 0u16..100, c in 0u16..100, d in 0u16..100) {
        let x = ProtocolVersion::parse(&format!("{a}.{b}")).unwrap();
        let y = ProtocolVersion::parse(&format!("{c}.{d}")).unwrap();
        prop_assert_eq!(x < y, (a, b) < (c, d));
        prop_assert_eq!(ProtocolVersion::parse(&x.to_string()), Some(x));
    }

    #[test]
    fn certificate_requests_round_trip(csr in proptest::collection::vec(any::<u8>(), 1..600), ctx in proptest::collection::vec((text(), text()), 0..6)) {
        let mut r = RequestSecurityToken::new(csr);
        for (n, v) in ctx {
            r = r.with_context(n, v);
        }
        r.message_id = Some("urn:uuid:9".into());
        let back = RequestSecurityToken::read(r.to_xml("urn:uuid:9", "https://e.example/x").as_bytes()).unwrap();
        prop_assert_eq!(back, r);
    }

    #[test]
    fn provisioning_documents_round_trip(
        root in proptest::collection::vec(any::<u8>(), 1..300),
        client in proptest::collection::vec(any::<u8>(), 1..300),
        inter in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..300)),
        id in "[A-Za-z0-9._-]{1,16}",
        upn in proptest::option::of(text()),
        // Attribute values with newlines, returns and tabs inside (a
        // literal one would read back as a space: found by libFuzzer).
        name in "[a-z]([a-z \t\n\r]{0,10}[a-z])?",
        retries in 0u32..100,
        login in any::<bool>(),
    ) {
        let mut poll = PollSchedule::default();
        poll.first_retries = retries;
        poll.poll_on_login = login;
        let mut doc = ProvisioningDoc::new(root, client, id, "https://dm.example/x?a=1&b=2").unwrap().with_poll(poll);
        doc.upn = upn;
        doc.name = name;
        if let Some(i) = inter {
            doc = doc.with_intermediate(i);
        }
        let xml = doc.to_xml();
        prop_assert_eq!(&ProvisioningDoc::read(xml.as_bytes()).unwrap(), &doc);
        let rstr = RequestSecurityTokenResponse::new(xml.clone()).to_xml(None);
        prop_assert_eq!(RequestSecurityTokenResponse::read(rstr.as_bytes()).unwrap().provisioning_xml, xml);
    }

    #[test]
    fn faults_and_policies_round_trip(reason in text(), trace in proptest::option::of("[a-z0-9-]{1,36}"), keylen in 1024u32..8192) {
        let mut f = EnrollmentFault::new(FaultType::CertificateRequest, reason);
        if let Some(t) = trace {
            f = f.with_trace_id(t);
        }
        prop_assert_eq!(EnrollmentFault::read(f.to_xml("urn:a", None).as_bytes()).unwrap(), f);
        let mut p = GetPoliciesResponse::default();
        p.min_key_length = keylen;
        prop_assert_eq!(GetPoliciesResponse::read(p.to_xml(None).as_bytes()).unwrap(), p);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_enrollment_readers(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = mdmkit_windows::enroll::read_message(&bytes);
        let _ = ProvisioningDoc::read(&bytes);
    }

    #[test]
    fn normalisation_is_idempotent_and_spelling_blind(segs in proptest::collection::vec("[A-Za-z0-9_%-][A-Za-z0-9._%-]{0,7}|Device|User", 1..5), prefix in 0usize..4) {
        let path = segs.join("/");
        let spelled = match prefix {
            0 => path.clone(),
            1 => format!("./{path}"),
            2 => format!("./Device/{path}"),
            _ => format!("./device/{path}/"),
        };
        let u = LocUri::new(spelled);
        let n = u.normalized().into_owned();
        prop_assert_eq!(LocUri::new(n.clone()).normalized().into_owned(), n.clone());
        prop_assert!(u.same_node(&LocUri::new(path.clone())));
        prop_assert!(u.is_within(&path));
        let top = format!("./Device/{}", segs[0]);
        prop_assert!(u.is_within(&top));
    }
}
