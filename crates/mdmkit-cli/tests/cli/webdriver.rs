//! A small W3C WebDriver client over reqwest, enough to drive Debian's
//! headless Chromium through `chromedriver`: sessions, navigation,
//! elements, cookies, keys, scripts and screenshots.
//!
//! Written here rather than taken from `fantoccini` or `thirtyfour`: the
//! protocol is a dozen JSON calls, and both crates bring a second HTTP and
//! TLS stack into the workspace for them. A missing `chromium` or
//! `chromedriver` is a failure, never a skip (`scripts/test` installs both).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// `chromedriver` on a free loopback port, killed on drop.
pub(crate) struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed: the console's browser tests need Debian's \
                 chromium and chromium-driver (scripts/test installs them: \
                 apt-get install chromium chromium-driver)"
            )
        })
}

impl Driver {
    /// Starts `chromedriver` (with `TZ` for the browser it starts) and
    /// waits until it answers.
    pub(crate) async fn start(tz: &str) -> Self {
        let chromium = which("chromium");
        let chromedriver = which("chromedriver");
        assert!(chromium.exists());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .env("TZ", tz)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let profile = tempfile::tempdir().unwrap();
        let path = profile.path().to_path_buf();
        // Owned at once, so that a panic below still kills it.
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _profile: profile,
            profile: path,
        };
        let c = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = c.get(format!("{}/status", driver.url)).send().await
                && r.status().is_success()
            {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chromedriver did not answer on {}", driver.url);
    }

    /// A new headless Chromium session (a fresh profile, no network
    /// service of its own: this machine's network is closed).
    pub(crate) async fn session(&self, width: u32, height: u32) -> Browser {
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!(
                "--user-data-dir={}",
                self.profile.join(format!("p{width}x{height}")).display()
            ),
            format!("--window-size={width},{height}"),
        ];
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": which("chromium"),
                "args": args,
                "prefs": { "intl.accept_languages": "en-US,en" }
            }
        }}});
        let c = reqwest::Client::new();
        let r = c
            .post(format!("{}/session", self.url))
            .header("content-type", "application/json")
            .body(caps.to_string())
            .send()
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        Browser {
            c,
            base: format!("{}/session/{id}", self.url),
        }
    }
}

/// One browser session.
pub(crate) struct Browser {
    c: reqwest::Client,
    base: String,
}

/// An element of the current page.
#[derive(Debug, Clone)]
pub(crate) struct Element(String);

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut r = self.c.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let bytes = r.send().await.unwrap().bytes().await.unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!("webdriver {path}: {e}: {}", String::from_utf8_lossy(&bytes))
        });
        if let Some(e) = v["value"].get("error") {
            panic!("webdriver {path}: {e}: {}", v["value"]["message"]);
        }
        v["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    pub(crate) async fn url(&self) -> String {
        self.get("/url").await.as_str().unwrap().to_owned()
    }

    pub(crate) async fn find(&self, css: &str) -> Element {
        let v = self
            .post("/element", json!({ "using": "css selector", "value": css }))
            .await;
        Element(v[ELEMENT].as_str().unwrap().to_owned())
    }

    pub(crate) async fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self
            .post(
                "/elements",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| Element(e[ELEMENT].as_str().unwrap().to_owned()))
            .collect()
    }

    pub(crate) async fn text(&self, e: &Element) -> String {
        self.get(&format!("/element/{}/text", e.0))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub(crate) async fn attr(&self, e: &Element, name: &str) -> Option<String> {
        self.get(&format!("/element/{}/attribute/{name}", e.0))
            .await
            .as_str()
            .map(str::to_owned)
    }

    pub(crate) async fn click(&self, e: &Element) {
        self.post(&format!("/element/{}/click", e.0), json!({}))
            .await;
    }

    /// Clicks something that loads another page, and waits for it (a
    /// marker left on the old document is gone and the new one is loaded).
    pub(crate) async fn click_and_wait(&self, e: &Element) {
        self.run("window.__mdmkitOld = true; return 0;").await;
        self.click(e).await;
        for _ in 0..400 {
            let v = self
                .run("return window.__mdmkitOld === undefined && document.readyState === 'complete';")
                .await;
            if v == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no page loaded after the click");
    }

    pub(crate) async fn type_into(&self, e: &Element, text: &str) {
        self.post(&format!("/element/{}/value", e.0), json!({ "text": text }))
            .await;
    }

    /// The page's visible text.
    pub(crate) async fn page_text(&self) -> String {
        let body = self.find("body").await;
        self.text(&body).await
    }

    pub(crate) async fn run(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] }))
            .await
    }

    /// Presses Tab `n` times on the page.
    pub(crate) async fn tab(&self, n: usize) {
        let mut actions = Vec::new();
        for _ in 0..n {
            actions.push(json!({ "type": "keyDown", "value": "\u{E004}" }));
            actions.push(json!({ "type": "keyUp", "value": "\u{E004}" }));
        }
        self.post(
            "/actions",
            json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] }),
        )
        .await;
    }

    pub(crate) async fn cookie(&self, name: &str) -> Option<String> {
        let v = self.get("/cookie").await;
        v.as_array()?
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["value"].as_str())
            .map(str::to_owned)
    }

    /// Every cookie of the current page, with its attributes.
    pub(crate) async fn cookies(&self) -> Vec<Value> {
        self.get("/cookie")
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) async fn set_cookie(&self, name: &str, value: &str) {
        self.call(reqwest::Method::DELETE, &format!("/cookie/{name}"), None)
            .await;
        self.post(
            "/cookie",
            json!({ "cookie": { "name": name, "value": value, "path": "/console/", "httpOnly": true, "sameSite": "Strict" } }),
        )
        .await;
    }

    pub(crate) async fn clear_cookies(&self) {
        self.call(reqwest::Method::DELETE, "/cookie", None).await;
    }

    pub(crate) async fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({ "width": width, "height": height }))
            .await;
    }

    /// A PNG of the viewport, written to `dir/name` when `dir` is set.
    pub(crate) async fn screenshot(&self, dir: Option<&Path>, name: &str) -> Vec<u8> {
        let v = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
        if let Some(d) = dir {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join(name), &png).unwrap();
        }
        png
    }

    pub(crate) async fn quit(self) {
        let _ = self.c.delete(&self.base).send().await;
    }
}
