//! A small W3C WebDriver client over reqwest, driving Debian's `chromium` through
//! `chromedriver`: sessions, navigation, elements, cookies, screenshots. (The thirtyfour
//! crate would do, but it turns on serde_json's `preserve_order` for the whole test
//! build, which changes how the product's own JSON maps serialize under test.)

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process, stopped on drop.
pub struct Driver {
    child: Child,
    base: String,
}

impl Driver {
    /// Starts chromedriver on a free port.
    pub async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("chromedriver").arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = reqwest::get(format!("{base}/status")).await.ok().map(|r| r.status().is_success()).unwrap_or(false);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Driver { child, base }
    }

    /// A new headless browser.
    pub async fn browser(&self) -> Browser {
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,900"
            ]}
        }}});
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let created: Value = http.post(format!("{}/session", self.base)).json(&capabilities).send().await.unwrap().json().await.unwrap();
        let id = created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {created}")).to_owned();
        Browser { http, session: format!("{}/session/{id}", self.base) }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session.
pub struct Browser {
    http: reqwest::Client,
    session: String,
}

/// An element of the page.
#[derive(Clone)]
pub struct Element(String);

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        answer["value"].clone()
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// The page's HTML as the browser holds it.
    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// The page's HTML once `ready` accepts it (a form's answer may still be loading
    /// when a click returns), or after 10 s as it is.
    pub async fn source_when(&self, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let source = self.source().await;
            if ready(&source) || Instant::now() > deadline {
                return source;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The current URL once `ready` accepts it, or after 10 s as it is.
    pub async fn url_when(&self, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.url().await;
            if ready(&url) || Instant::now() > deadline {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every element `css` selects.
    pub async fn all(&self, css: &str) -> Vec<Element> {
        let found = self.call(reqwest::Method::POST, "/elements", Some(json!({"using": "css selector", "value": css}))).await;
        found.as_array().into_iter().flatten().filter_map(|e| e[ELEMENT].as_str()).map(|id| Element(id.to_owned())).collect()
    }

    /// The element `css` selects (panics, naming the page, when there is none).
    pub async fn find(&self, css: &str) -> Element {
        match self.all(css).await.into_iter().next() {
            Some(element) => element,
            None => panic!("no {css} on {}", self.url().await),
        }
    }

    /// Clicks an element (and waits for the navigation a form submission makes).
    pub async fn click(&self, element: &Element) {
        self.call(reqwest::Method::POST, &format!("/element/{}/click", element.0), Some(json!({}))).await;
    }

    /// Types into an element, after clearing it.
    pub async fn fill(&self, element: &Element, text: &str) {
        self.call(reqwest::Method::POST, &format!("/element/{}/clear", element.0), Some(json!({}))).await;
        self.call(reqwest::Method::POST, &format!("/element/{}/value", element.0), Some(json!({"text": text}))).await;
    }

    /// An element's visible text.
    pub async fn text(&self, element: &Element) -> String {
        self.call(reqwest::Method::GET, &format!("/element/{}/text", element.0), None).await.as_str().unwrap_or_default().to_owned()
    }

    /// An input's value.
    pub async fn value(&self, element: &Element) -> String {
        self.call(reqwest::Method::GET, &format!("/element/{}/property/value", element.0), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Whether a checkbox is checked.
    pub async fn checked(&self, element: &Element) -> bool {
        self.call(reqwest::Method::GET, &format!("/element/{}/selected", element.0), None).await.as_bool().unwrap_or(false)
    }

    /// A cookie's value.
    pub async fn cookie(&self, name: &str) -> Option<String> {
        self.call(reqwest::Method::GET, &format!("/cookie/{name}"), None).await["value"].as_str().map(str::to_owned)
    }

    /// Writes a PNG of the page.
    pub async fn screenshot(&self, file: &Path) {
        use base64::Engine as _;
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        if let Some(png) = png.as_str().and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok()) {
            let _ = std::fs::write(file, png);
        }
    }

    /// Ends the session.
    pub async fn quit(&self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

/// Whatever fails a browser test (a check, a missing element, an assertion), the page it
/// failed on is kept: `target/ui-failures/<test>.png`.
impl Drop for Browser {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let test = std::thread::current().name().unwrap_or("ui").replace(|c: char| !c.is_ascii_alphanumeric(), "-");
        let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../target/ui-failures/{test}.png"));
        let session = self.session.clone();
        // The test's runtime is unwinding: a thread of its own asks for the picture.
        let taken = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let _ = std::fs::create_dir_all(file.parent()?);
                let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().ok()?;
                let answer: Value = http.get(format!("{session}/screenshot")).send().await.ok()?.json().await.ok()?;
                use base64::Engine as _;
                let png = base64::engine::general_purpose::STANDARD.decode(answer["value"].as_str()?).ok()?;
                std::fs::write(&file, png).ok().map(|_| file)
            })
        })
        .join();
        if let Ok(Some(file)) = taken {
            eprintln!("the page the test failed on: {}", file.display());
        }
    }
}
