//! The web console in a real browser: Debian's headless Chromium, driven
//! over WebDriver, against `mdmkit serve` on a copy of the example region.
//!
//! A school's operator signs in with the school's token, sees that school
//! only, opens a device, follows a setting back to the policy and node
//! that set it, locks the device and finds the lock queued and journaled;
//! a town's read token sees its schools and classes and no action; a forged
//! cookie and a form without its CSRF token are refused; the pages are
//! keyboard-navigable, switch to French, and show times in the browser's
//! zone. `MDMKIT_CONSOLE_SCREENSHOTS=docs/console` writes the screenshots
//! of `docs/console.md`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mdmkit::queue::{SqliteOptions, SqliteStore};
use mdmkit::state::SqliteState;
use mdmkit::{DeviceId, Reconciler, TenantId};

use crate::serve_support::{SCHOOL, Server, TENANT, admin_get, plist};
use crate::support::{copy_dir, mdmkit, region};
use crate::webdriver::{Browser, Driver};

/// An iPad of the school's CM1 class, with a setting the school itself set.
const IPAD: &str = "00008101-7C003470918CA617";
/// The town above the school.
const TOWN: &str = "estaires";
/// A school of another town.
const NEIGHBOUR: &str = "ecole-jean-jaures";

fn token(dir: &Path, node: &str, role: &str) -> String {
    crate::serve_support::token(dir, node, role, &[])
}

/// Devices answer their first commands through the facade, as the server
/// would record them: five iPads acknowledge everything, one refuses a
/// profile with the error text Apple devices send.
async fn devices_answer(dir: &Path) {
    let db = dir.join(".mdmkit/mdmkit.db");
    let queue = SqliteStore::open(SqliteOptions::new(&db)).await.unwrap();
    let state = SqliteState::open(&db).await.unwrap();
    let r = Reconciler::new(Arc::new(queue), Arc::new(state));
    let tenant = TenantId::new(TENANT).unwrap();
    let ipads = [
        "00008101-43C5CB4B3FEE53EE",
        "00008101-4B071C7EC872668F",
        "00008101-7CC8FAED1AAC92B0",
        "00008101-8737BCCAC1A65AEF",
        "00008101-C83363CE568833FF",
    ];
    let report = |udid: &str, status: &str, uuid: Option<String>, error: bool| {
        let uuid = uuid
            .map(|u| format!("<key>CommandUUID</key><string>{u}</string>"))
            .unwrap_or_default();
        let chain = if error {
            "<key>ErrorChain</key><array><dict><key>ErrorCode</key><integer>4001</integer>\
             <key>ErrorDomain</key><string>MCProfileErrorDomain</string>\
             <key>LocalizedDescription</key><string>The profile \u{201c}Wi-Fi\u{201d} could not be installed: the passcode does not meet the requirements</string>\
             <key>USEnglishDescription</key><string>The profile could not be installed: the passcode does not meet the requirements</string></dict></array>"
        } else {
            ""
        };
        plist(&format!(
            "<key>UDID</key><string>{udid}</string><key>Status</key><string>{status}</string>{uuid}{chain}"
        ))
    };
    for (i, udid) in ipads
        .iter()
        .chain(["00008101-E461268E45080B76"].iter())
        .enumerate()
    {
        let d = DeviceId::new(*udid).unwrap();
        let mut next = r
            .apple_report(&tenant, &d, report(udid, "Idle", None, false).as_bytes())
            .await
            .unwrap();
        let failing = i == ipads.len();
        while let Some(cmd) = next {
            let body = report(
                udid,
                if failing { "Error" } else { "Acknowledged" },
                Some(cmd.id.to_string()),
                failing,
            );
            next = r.apple_report(&tenant, &d, body.as_bytes()).await.unwrap();
            if failing {
                break;
            }
        }
    }
}

async fn sign_in(b: &Browser, base: &str, token: &str, shots: Option<&Path>, shot: Option<&str>) {
    b.clear_cookies().await;
    b.goto(&format!("{base}/console/")).await;
    b.type_into(&b.find("#tenant").await, TENANT).await;
    b.type_into(&b.find("#token").await, token).await;
    if let Some(name) = shot {
        b.screenshot(shots, name).await;
    }
    b.click_and_wait(&b.find("form button[type=submit]").await)
        .await;
}

/// The console's answer to a request carrying this session cookie.
async fn status_with_cookie(url: &str, cookie: &str, form: Option<&[(&str, &str)]>) -> u16 {
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut r = match form {
        Some(f) => {
            let body: String = f
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&");
            c.post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
        }
        None => c.get(url),
    };
    r = r.header("cookie", format!("mdmkit_console={cookie}"));
    r.send().await.unwrap().status().as_u16()
}

#[test]
fn a_schools_operator_sees_its_school_follows_provenance_and_locks_an_ipad_in_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let shots: Option<PathBuf> = std::env::var_os("MDMKIT_CONSOLE_SCREENSHOTS").map(|d| {
        let p = PathBuf::from(d);
        if p.is_absolute() {
            p
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
        }
    });
    let shots = shots.as_deref();
    let o = mdmkit(&["reconcile", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{o:?}");
    let school_operate = token(&dir, SCHOOL, "operate");
    let town_read = token(&dir, TOWN, "read");
    let region_read = token(&dir, TENANT, "read");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(devices_answer(&dir));
    let server = Server::start(&dir, &[]);
    let base = server.base.clone();

    rt.block_on(async {
        let driver = Driver::start("Pacific/Auckland").await;
        let b = driver.session(1280, 1000).await;

        // Sign in as the school: its page, its classes, nothing beside it.
        sign_in(&b, &base, &school_operate, shots, Some("login.png")).await;
        assert!(
            b.url().await.ends_with(&format!("/console/{TENANT}/nodes/{SCHOOL}")),
            "{}",
            b.url().await
        );
        let h1 = b.text(&b.find("h1").await).await;
        assert_eq!(h1, "École élémentaire Jules-Ferry");
        let rows: Vec<String> = {
            let mut v = Vec::new();
            for e in b.find_all("#tree-h ~ table tbody th a").await {
                v.push(b.text(&e).await);
            }
            v
        };
        assert_eq!(
            rows,
            ["École élémentaire Jules-Ferry", "CM1 de Mme Lefebvre", "CM2 de M. Dubois"]
        );
        let text = b.page_text().await;
        assert!(!text.contains("Jean-Jaurès") && !text.contains("Ravel"), "{text}");
        // The compliance bar says what the devices answered.
        let bar = b.find("#summary-h ~ svg.bar").await;
        let label = b.attr(&bar, "aria-label").await.unwrap();
        assert!(label.contains("5 verified") && label.contains("1 failed"), "{label}");
        b.screenshot(shots, "tree-school.png").await;
        // The admin API's per-node counts are the same numbers.
        let c = reqwest::Client::new();
        let (s, nodes) = admin_get(&c, &base, "nodes", Some(&school_operate)).await;
        assert_eq!(s, 200);
        let top = &nodes["nodes"][0];
        assert_eq!(nodes["nodes"].as_array().unwrap().len(), 3);
        assert_eq!((top["devices"].as_u64(), top["compliance"]["verified"].as_u64()), (Some(9), Some(5)));
        assert_eq!(top["compliance"]["failed"], 1);
        assert_eq!(top["platforms"]["apple"], 8);
        let (s, _) = admin_get(&c, &base, &format!("nodes?node={NEIGHBOUR}"), Some(&school_operate)).await;
        assert_eq!(s, 404);

        // The "not compliant" filter keeps the failed and pending devices.
        b.click_and_wait(&b.find("nav.filters a:nth-child(2)").await).await;
        let listed = b.find_all("#devices-h ~ table tbody tr").await.len();
        assert_eq!(listed, 9 - 5, "the five verified iPads are filtered out");
        b.screenshot(shots, "tree-noncompliant.png").await;

        // Keyboard: the first Tab reaches the skip link, with a visible focus.
        b.goto(&format!("{base}/console/{TENANT}/nodes/{SCHOOL}")).await;
        b.tab(1).await;
        let focus = b
            .run("const e = document.activeElement; return [e.className, getComputedStyle(e).outlineStyle];")
            .await;
        assert_eq!(focus, serde_json::json!(["skip", "solid"]));
        // Every form control has a label or an accessible name.
        let unlabelled = b
            .run("return [...document.querySelectorAll('input:not([type=hidden]), button, select')].filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim()).length;")
            .await;
        assert_eq!(unlabelled, 0);

        // The device: facts, compliance with the device's error, provenance.
        b.click_and_wait(&b.find(&format!("a[href$='/devices/{IPAD}']")).await).await;
        let text = b.page_text().await;
        assert!(text.contains("iPad (10th generation)"), "{text}");
        let prov = b.find("tr[id='setting-passcode.auto_lock_minutes'] td.provenance").await;
        assert_eq!(b.text(&prov).await, format!("policy {SCHOOL} at {SCHOOL}"));
        // The same provenance as the admin API's effective policy.
        let (s, eff) = admin_get(&c, &base, &format!("devices/{IPAD}/effective"), Some(&school_operate)).await;
        assert_eq!(s, 200);
        assert_eq!(eff["provenance"]["passcode.min_length"]["provenance"]["source"]["policy"], "securite-socle");
        let root_prov = b.find("tr[id='setting-passcode.min_length'] td.provenance").await;
        assert_eq!(b.text(&root_prov).await, format!("policy securite-socle at {TENANT}"));
        // Times are the browser's (its zone is Auckland's, never UTC).
        let t = b.find("td time[datetime]").await;
        assert_eq!(b.attr(&t, "data-local").await.as_deref(), Some("1"));
        assert!(!b.text(&t).await.contains("UTC"));
        b.screenshot(shots, "device.png").await;
        // Follow the setting back to the node that set it.
        b.click_and_wait(&b.find("tr[id='setting-passcode.auto_lock_minutes'] a.scope").await).await;
        assert!(b.url().await.ends_with(&format!("/nodes/{SCHOOL}")));

        // The failed iPad shows the device's own error text.
        b.goto(&format!("{base}/console/{TENANT}/devices/00008101-E461268E45080B76")).await;
        let text = b.page_text().await;
        assert!(text.contains("the passcode does not meet the requirements"), "{text}");

        // Lock the iPad: queued, journaled, on the node's activity page.
        b.goto(&format!("{base}/console/{TENANT}/devices/{IPAD}")).await;
        b.type_into(&b.find("#lock-message").await, "Merci de rapporter cet iPad au secrétariat").await;
        b.click_and_wait(&b.find("#action-lock").await).await;
        assert!(b.url().await.ends_with("?done=lock"), "{}", b.url().await);
        let first = b.find("tr.command").await;
        let row = b.text(&first).await;
        assert!(row.starts_with("DeviceLock") && row.contains("queued"), "{row}");
        let (s, audit) = admin_get(&c, &base, "audit?limit=1000", Some(&school_operate)).await;
        assert_eq!(s, 200);
        let locked = audit["entries"].as_array().unwrap().iter().any(|e| {
            e["event"]["type"] == "admin_action"
                && e["event"]["action"] == "enqueue DeviceLock"
                && e["event"]["target"] == IPAD
        });
        assert!(locked, "{audit}");
        b.goto(&format!("{base}/console/{TENANT}/nodes/{SCHOOL}/activity")).await;
        let entry = b.text(&b.find("tr.entry").await).await;
        assert!(entry.contains("enqueue DeviceLock") && entry.contains(IPAD), "{entry}");
        b.screenshot(shots, "activity.png").await;

        // Erase needs the device id typed: a wrong one erases nothing.
        b.goto(&format!("{base}/console/{TENANT}/devices/{IPAD}")).await;
        b.type_into(&b.find("#erase-confirm").await, "oops").await;
        b.click_and_wait(&b.find("#action-erase").await).await;
        assert!(b.url().await.ends_with("?refused=erase-confirmation"));
        assert!(!b.text(&b.find("tr.command").await).await.starts_with("EraseDevice"));

        // Its whole policy again: every category queued anew.
        let before = b.find_all("tr.command").await.len();
        b.click_and_wait(&b.find("#action-resend").await).await;
        assert!(b.url().await.ends_with("?done=resend"));
        assert!(b.find_all("tr.command").await.len() > before);

        // A neighbouring school, and its device, do not exist for this token.
        let cookie = b.cookie("mdmkit_console").await.unwrap();
        let flags = b.cookies().await;
        let session = flags.iter().find(|c| c["name"] == "mdmkit_console").unwrap();
        assert_eq!(session["httpOnly"], true);
        assert_eq!(session["sameSite"], "Strict");
        b.goto(&format!("{base}/console/{TENANT}/nodes/{NEIGHBOUR}")).await;
        assert_eq!(b.text(&b.find("h1").await).await, "Not found.");
        for path in [
            format!("nodes/{NEIGHBOUR}"),
            format!("nodes/{TOWN}"),
            format!("nodes/{TENANT}"),
            "devices/C155F0D5-8637-FB15-135E-7DED57B1D5F2".to_owned(),
            "devices/enterprises%2FLC03hdl7%2Fdevices%2Ff759a32b63b36a23".to_owned(),
            "devices/00008101-0F3A1C9B2D4E5F60".to_owned(),
            format!("nodes/{NEIGHBOUR}/activity"),
        ] {
            let url = format!("{base}/console/{TENANT}/{path}");
            assert_eq!(status_with_cookie(&url, &cookie, None).await, 404, "{path}");
        }

        // A form without its CSRF token is refused, and changes nothing.
        b.goto(&format!("{base}/console/{TENANT}/devices/{IPAD}")).await;
        b.run("document.querySelectorAll('#action-restart')[0].form.querySelector('input[name=csrf]').remove(); return 0;").await;
        b.click_and_wait(&b.find("#action-restart").await).await;
        assert!(b.page_text().await.contains("did not come from the console"));
        let action = format!("{base}/console/{TENANT}/devices/{IPAD}/actions");
        assert_eq!(status_with_cookie(&action, &cookie, Some(&[("action", "restart")])).await, 403);
        assert_eq!(
            status_with_cookie(&action, &cookie, Some(&[("action", "restart"), ("csrf", "AAAA")])).await,
            403
        );
        b.goto(&format!("{base}/console/{TENANT}/devices/{IPAD}")).await;
        assert!(!b.page_text().await.contains("RestartDevice"));

        // A forged cookie (its expiry pushed out, or another token id) is
        // no session: back to the sign-in page.
        let mut parts: Vec<String> = cookie.split('.').map(str::to_owned).collect();
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = String::from_utf8(engine.decode(&parts[0]).unwrap()).unwrap();
        let longer = payload.replace('\0', "\u{1}").rsplit_once('\u{1}').map(|(head, _)| format!("{head}\u{1}99999999999999")).unwrap().replace('\u{1}', "\0");
        parts[0] = engine.encode(longer);
        let forged = parts.join(".");
        b.set_cookie("mdmkit_console", &forged).await;
        b.goto(&format!("{base}/console/{TENANT}/nodes/{SCHOOL}")).await;
        assert!(b.url().await.ends_with("/console/"), "{}", b.url().await);
        assert_eq!(b.text(&b.find("h1").await).await, "Sign in");
        let node = format!("{base}/console/{TENANT}/nodes/{SCHOOL}");
        assert_eq!(status_with_cookie(&node, &forged, None).await, 303);
        assert_eq!(status_with_cookie(&node, "garbage", None).await, 303);
        assert_eq!(status_with_cookie(&node, &cookie, None).await, 200, "the real one still works");

        // A town's read token: its schools and classes, no action.
        sign_in(&b, &base, &town_read, None, None).await;
        assert!(b.url().await.ends_with(&format!("/nodes/{TOWN}")));
        let mut rows = Vec::new();
        for e in b.find_all("#tree-h ~ table tbody th a").await {
            rows.push(b.text(&e).await);
        }
        assert_eq!(
            rows,
            [
                "Estaires",
                "École élémentaire Jules-Ferry",
                "CM1 de Mme Lefebvre",
                "CM2 de M. Dubois",
                "Collège Maurice-Ravel",
                "3e A (salle d'examen)",
                "5e B",
            ]
        );
        assert!(!b.page_text().await.contains("Jean-Jaurès"));
        assert!(b.find_all("form[action$='/reconcile']").await.is_empty());
        b.screenshot(shots, "tree-town.png").await;
        b.goto(&format!("{base}/console/{TENANT}/devices/{IPAD}")).await;
        assert!(b.find_all("#action-lock").await.is_empty());
        assert!(b.page_text().await.contains("may read only"));
        b.goto(&format!("{base}/console/{TENANT}/nodes/{NEIGHBOUR}")).await;
        assert_eq!(b.text(&b.find("h1").await).await, "Not found.");

        // French, from the switch; the choice sticks.
        b.goto(&format!("{base}/console/{TENANT}/nodes/{TOWN}")).await;
        b.click_and_wait(&b.find("a[lang=fr]").await).await;
        assert_eq!(b.run("return document.documentElement.lang;").await, "fr");
        assert!(b.page_text().await.contains("Conformité"));
        b.goto(&format!("{base}/console/{TENANT}/nodes/{SCHOOL}")).await;
        assert!(b.page_text().await.contains("Non conformes"));

        // The region, on a tablet (a fresh browser state: English again).
        sign_in(&b, &base, &region_read, None, None).await;
        b.resize(820, 1180).await;
        assert_eq!(b.run("return document.documentElement.scrollWidth <= window.innerWidth;").await, true);
        b.screenshot(shots, "tree-region-tablet.png").await;

        // Signing out ends the session in this browser.
        b.click_and_wait(&b.find("header form button").await).await;
        b.goto(&format!("{base}/console/{TENANT}/nodes/{TENANT}")).await;
        assert!(b.url().await.ends_with("/console/"));
        b.quit().await;
    });
    drop(server);
}
