//! The APNs provider against the emulator over real loopback HTTP/2 and
//! TLS: the headers and body an MDM push carries, every kind of answer,
//! certificates swapped at run time, the bound on requests in flight.
#![cfg(feature = "apns-emulator")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use mdmkit_apple::apns::certificate::PushCertificate;
use mdmkit_apple::apns::client::ApnsClient;
use mdmkit_apple::apns::emulator::{ApnsEmulator, test_push_certificate};
use mdmkit_apple::apns::{Outcome, OutcomeClass, PushRequest, Reason};

const TOPIC: &str = "com.apple.mgmt.External.5e1f0000-0000-4000-8000-00000000abcd";

fn cert(topic: &str, days: i64) -> PushCertificate {
    let c = test_push_certificate(topic, days);
    PushCertificate::from_pem(c.cert_pem.as_bytes(), c.key_pem.as_bytes()).unwrap()
}

fn push(token: &str) -> PushRequest {
    PushRequest::from_hex(TOPIC, "MAGIC-1", token)
        .unwrap()
        .with_expiration(4_000_000_000)
}

#[tokio::test]
async fn a_push_carries_what_apns_wants() {
    let emu = ApnsEmulator::start().await.unwrap();
    let c = cert(TOPIC, 30);
    let apns = ApnsClient::new(&c, &emu.config()).unwrap();
    let out = apns.push(&push("0aff01")).await;
    assert!(
        matches!(out, Outcome::Delivered { apns_id: Some(_) }),
        "{out:?}"
    );
    let p = &emu.pushes()[0];
    assert_eq!(p.token, "0aff01");
    assert_eq!(p.topic.as_deref(), Some(TOPIC));
    assert_eq!(p.push_type.as_deref(), Some("mdm"));
    assert_eq!(p.priority.as_deref(), Some("10"));
    assert_eq!(p.expiration.as_deref(), Some("4000000000"));
    assert_eq!(p.push_magic.as_deref(), Some("MAGIC-1"));
    assert_eq!(p.certificate_sha256.as_deref(), Some(c.sha256()));
}

#[tokio::test]
async fn every_answer_is_a_typed_outcome() {
    let emu = ApnsEmulator::start().await.unwrap();
    let c = cert(TOPIC, 30);
    let apns = ApnsClient::new(&c, &emu.config()).unwrap();

    emu.unregister("aa01");
    match apns.push(&push("aa01")).await {
        Outcome::TokenDead {
            reason: Reason::Unregistered,
            since_ms: Some(_),
        } => {}
        o => panic!("{o:?}"),
    }
    emu.bad_token("aa02");
    assert_eq!(
        apns.push(&push("aa02")).await,
        Outcome::TokenDead {
            reason: Reason::BadDeviceToken,
            since_ms: None
        }
    );
    emu.fail_next(Reason::TooManyRequests, 1, Some(7));
    match apns.push(&push("aa03")).await {
        Outcome::Retry {
            reason: Some(Reason::TooManyRequests),
            status: 429,
            retry_after,
            ..
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
        }
        o => panic!("{o:?}"),
    }
    emu.fail_next(Reason::ServiceUnavailable, 1, None);
    assert_eq!(apns.push(&push("aa03")).await.class(), OutcomeClass::Retry);
    emu.fail_next(Reason::ExpiredProviderToken, 1, None);
    assert_eq!(
        apns.push(&push("aa03")).await.class(),
        OutcomeClass::Certificate
    );
    emu.revoke(c.sha256());
    assert_eq!(
        apns.push(&push("aa03")).await,
        Outcome::Certificate {
            reason: Reason::BadCertificate
        }
    );

    // An expired certificate, a topic the certificate does not allow, a
    // request without the expiration: never retried as if transient.
    let old = ApnsClient::new(&cert(TOPIC, -1), &emu.config()).unwrap();
    assert_eq!(
        old.push(&push("aa04")).await.class(),
        OutcomeClass::Certificate
    );
    let other = ApnsClient::new(&cert("com.apple.mgmt.External.other", 30), &emu.config()).unwrap();
    assert_eq!(
        other.push(&push("aa04")).await,
        Outcome::Certificate {
            reason: Reason::TopicDisallowed
        }
    );
    let fresh = ApnsClient::new(&cert(TOPIC, 30), &emu.config()).unwrap();
    let no_exp = PushRequest::from_hex(TOPIC, "m", "aa05").unwrap();
    assert_eq!(fresh.push(&no_exp).await.class(), OutcomeClass::Delivered);
    assert_eq!(
        emu.pushes().last().unwrap().expiration.as_deref(),
        Some("0")
    );

    // Nobody listening: a transport failure is a retry without a reason.
    let gone = {
        let e = ApnsEmulator::start().await.unwrap();
        e.config()
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let dead = ApnsClient::new(&c, &gone.timeout(Duration::from_secs(2))).unwrap();
    match dead.push(&push("aa06")).await {
        Outcome::Retry {
            reason: None,
            status: 0,
            detail: Some(_),
            ..
        } => {}
        o => panic!("{o:?}"),
    }
}

#[tokio::test]
async fn requests_in_flight_are_bounded() {
    let emu = ApnsEmulator::start().await.unwrap();
    // Slow answers, so that the pushes overlap.
    emu.set_delay(Some(Duration::from_millis(50)));
    let c = cert(TOPIC, 30);
    let apns = ApnsClient::new(&c, &emu.config().max_in_flight(4)).unwrap();
    let reqs: Vec<_> = (0..16).map(|i| push(&format!("{i:04x}"))).collect();
    let out = apns.push_all(reqs).await;
    assert!(out.iter().all(|o| o.class() == OutcomeClass::Delivered));
    assert_eq!(emu.pushes().len(), 16);
    let most = emu.max_in_flight();
    assert!((2..=4).contains(&most), "{most} at once");
}
