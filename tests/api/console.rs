//! The admin console (SPEC §10) in a real browser: Debian's Chromium, driven through
//! chromedriver (WebDriver), against the real application on SQLite and the fake Evolution
//! server over HTTP. A super admin logs in, creates a tenant, provisions an instance and
//! sees its QR code, sees it refresh and then turn "connected" when the fake pairs it,
//! issues a sender token and reads it once, and sees the capacity bar move after a claim
//! made through the REST API; a 422 is shown in words. Then again at phone width, and
//! as a tenant user (read-only).
//!
//! Screenshots of every step are written to `target/console-screenshots/` (the last run's).
//! Without Chromium and chromedriver the test prints a SKIPPED line and passes, unless
//! `RELEVO_REQUIRE_BROWSER=1` (as in CI), when it fails. Nothing sleeps to wait for Relevo:
//! the test polls the page for what it expects, with a deadline.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::callback_receiver::{Mode, Receiver};
use crate::evolution_fake::{spawn_reachable_with_fake, FakeEvolution};
use crate::helpers::{
    assert_error, assert_error_in, into_reply, skip, Backend, TestApp, USER_PASSWORD,
};

/// How long the page gets to show what a step expects (it polls the API every 2 s).
const PAGE_DEADLINE: Duration = Duration::from_secs(20);

const PAIRED_JID: &str = "573001112233@s.whatsapp.net";

#[derive(Clone, Copy)]
enum Screen {
    Desktop,
    Phone,
}

/// Chromium and chromedriver on this machine, or `None` (with a SKIPPED line) when missing.
fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    let chromium = PathBuf::from(
        std::env::var("RELEVO_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
    );
    let driver = PathBuf::from(
        std::env::var("RELEVO_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into()),
    );
    if chromium.exists() && driver.exists() {
        return Some((chromium, driver));
    }
    let missing = format!(
        "{} and {} are needed (apt-get install chromium chromium-driver)",
        chromium.display(),
        driver.display()
    );
    skip("RELEVO_REQUIRE_BROWSER", &missing);
    None
}

fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("console-screenshots")
}

/// One browser session, on a chromedriver `with_browser` started.
struct Browser {
    client: Client,
    base: String,
    name: &'static str,
    shots: usize,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a session; answers both.
    async fn open(
        (chromium, driver_path): &(PathBuf, PathBuf),
        app: &TestApp,
        screen: Screen,
        name: &'static str,
    ) -> (Child, Browser) {
        let port = crate::helpers::known_port();
        let log = std::fs::File::create(screenshot_dir().join(format!("chromedriver-{name}.log")))
            .expect("chromedriver log file");
        let mut driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::from(log.try_clone().expect("log handle")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = format!("{url}/status");
        while !reqwest::get(&status)
            .await
            .is_ok_and(|reply| reply.status().is_success())
        {
            if Instant::now() > deadline {
                let _ = driver.kill();
                panic!("chromedriver did not answer on {url}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let metrics = match screen {
            Screen::Desktop => {
                json!({"width": 1280, "height": 800, "pixelRatio": 1.0, "touch": false, "mobile": false})
            }
            Screen::Phone => {
                json!({"width": 390, "height": 844, "pixelRatio": 2.0, "touch": true, "mobile": true})
            }
        };
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1000", "--no-first-run", "--disable-extensions"],
                "mobileEmulation": {"deviceMetrics": metrics},
            },
        });
        let capabilities = match capabilities {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await;
        let client = match client {
            Ok(client) => client,
            Err(error) => {
                let _ = driver.kill();
                panic!("no Chromium session: {error}");
            }
        };
        let browser = Browser {
            client,
            base: format!("{}/console/", app.address),
            name,
            shots: 0,
        };
        (driver, browser)
    }

    async fn goto(&self, hash: &str) {
        self.client
            .goto(&format!("{}{hash}", self.base))
            .await
            .expect("navigation");
    }

    /// Scrolls `css` to the top of the screen, then saves what the browser shows.
    async fn shot_at(&mut self, css: &str, step: &str) {
        let script = format!(
            "document.querySelector({css:?})?.scrollIntoView({{block: 'start'}}); return true"
        );
        self.js(&script).await;
        self.shot(step).await;
    }

    /// Saves what the browser shows as `NN-<browser>-<step>.png`.
    async fn shot(&mut self, step: &str) {
        self.shots += 1;
        let png = self.client.screenshot().await.expect("a screenshot");
        let file = screenshot_dir().join(format!("{}-{:02}-{step}.png", self.name, self.shots));
        std::fs::write(&file, png).expect("screenshot written");
    }

    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|error| panic!("script failed: {error}\n{script}"))
    }

    /// Polls `script` until it returns something other than null/false/"", and answers it.
    async fn until(&mut self, script: &str, what: &str) -> Value {
        let deadline = Instant::now() + PAGE_DEADLINE;
        loop {
            let value = self.js(script).await;
            if !matches!(&value, Value::Null | Value::Bool(false)) && value.as_str() != Some("") {
                return value;
            }
            if Instant::now() > deadline {
                self.shot("FAILED").await;
                let text = self.js("return document.body.innerText").await;
                panic!(
                    "the page never showed {what}; it shows:\n{}",
                    text.as_str().unwrap_or("")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no {css}: {error}"));
        element.clear().await.expect("cleared");
        element.send_keys(text).await.expect("typed");
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no {css}: {error}"))
            .click()
            .await
            .unwrap_or_else(|error| panic!("cannot click {css}: {error}"));
    }

    async fn text(&self) -> String {
        self.js("return document.querySelector('main').innerText")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn log_in(&mut self, email: &str, password: &str) {
        self.goto("").await;
        self.until(
            "return document.querySelector('form.login input[name=email]')",
            "the login form",
        )
        .await;
        self.type_into("form.login input[name=email]", email).await;
        self.type_into("form.login input[name=password]", password)
            .await;
        self.shot("login").await;
        self.click("form.login button[type=submit]").await;
        self.until(
            "return !document.querySelector('form.login') && document.querySelector('main h1')",
            "a page after login",
        )
        .await;
    }

    /// What every page must have: a label for every control, every text in the chosen
    /// language's dictionary, and nothing wider than the screen.
    async fn check_page(&self, page: &str) {
        let unlabelled = self
            .js("return [...document.querySelectorAll('input, select, textarea')].filter(e => e.type !== 'hidden' && !e.labels.length && !e.getAttribute('aria-label')).map(e => e.name || e.id)")
            .await;
        assert_eq!(unlabelled, json!([]), "{page}: controls without a label");
        let missing = self.js("return globalThis.relevoMissingKeys || []").await;
        assert_eq!(
            missing,
            json!([]),
            "{page}: texts missing from the dictionary"
        );
        let overflow = self
            .js("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            .await;
        assert!(
            overflow.as_i64().unwrap_or(0) <= 0,
            "{page}: the page is {overflow} px wider than the screen"
        );
    }
}

/// Opens a browser, runs `steps` in it, and ends the session and the chromedriver this
/// test started (by its own handle) whether the steps pass or fail.
async fn with_browser<F, Fut>(
    binaries: &(PathBuf, PathBuf),
    app: &TestApp,
    screen: Screen,
    name: &'static str,
    steps: F,
) where
    F: FnOnce(Browser) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (mut driver, browser) = Browser::open(binaries, app, screen, name).await;
    let client = browser.client.clone();
    let outcome = AssertUnwindSafe(steps(browser)).catch_unwind().await;
    let _ = client.close().await;
    let _ = driver.kill();
    let _ = driver.wait();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test]
async fn a_super_admin_runs_the_console_in_a_real_browser() {
    let Some(binaries) = browser_binaries() else {
        return;
    };
    let dir = screenshot_dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    let (app, fake) = spawn_reachable_with_fake(Backend::Sqlite, &[])
        .await
        .expect("SQLite needs no server");

    let receiver = Receiver::start(app.clock.clone()).await;
    let tenant = std::cell::Cell::new(0);
    let (app, fake, receiver, tenant) = (&app, &fake, &receiver, &tenant);
    with_browser(
        &binaries,
        app,
        Screen::Desktop,
        "desktop",
        |mut browser| async move {
            super_admin_steps(&mut browser, app, fake, receiver, tenant).await;
        },
    )
    .await;
    with_browser(
        &binaries,
        app,
        Screen::Phone,
        "phone",
        |mut browser| async move {
            phone_steps(&mut browser, tenant.get()).await;
        },
    )
    .await;
    app.tenant_user_token(tenant.get(), "lectora@norte.test")
        .await;
    with_browser(
        &binaries,
        app,
        Screen::Desktop,
        "tenant-user",
        |mut browser| async move {
            tenant_user_steps(&mut browser).await;
        },
    )
    .await;
}

async fn super_admin_steps(
    browser: &mut Browser,
    app: &TestApp,
    fake: &FakeEvolution,
    receiver: &Receiver,
    tenant_id: &std::cell::Cell<i64>,
) {
    // Log in: the tenants page.
    browser
        .log_in(crate::helpers::ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD)
        .await;
    browser
        .until(
            "return location.hash === '#/tenants' && document.querySelector('form.create-tenant')",
            "the tenants page",
        )
        .await;
    browser.shot("tenants").await;
    browser.check_page("tenants").await;

    // A 422 is shown in words: the message and each field's message, never JSON.
    let invalid =
        json!({"nombre": "Campaña Norte", "slug": "Campaña Norte!", "timezone": "Marte/Olimpo"});
    let refused = app
        .admin(Method::POST, "/api/v1/tenants", Some(&invalid))
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    browser
        .type_into("form.create-tenant [name=nombre]", "Campaña Norte")
        .await;
    browser
        .type_into("form.create-tenant [name=slug]", "Campaña Norte!")
        .await;
    browser
        .type_into("form.create-tenant [name=timezone]", "Marte/Olimpo")
        .await;
    browser
        .click("form.create-tenant button[type=submit]")
        .await;
    let shown = browser
        .until("return document.querySelector('form.create-tenant .form-error [role=alert]')?.innerText", "the validation error")
        .await;
    let shown = shown.as_str().unwrap();
    assert!(
        shown.contains(refused.body["message"].as_str().unwrap()),
        "{shown}"
    );
    for (field, messages) in refused.body["errors"].as_object().unwrap() {
        for message in messages.as_array().unwrap() {
            assert!(
                shown.contains(message.as_str().unwrap()),
                "{field}: {message} not in {shown}"
            );
        }
    }
    assert!(
        !shown.contains('{') && !shown.contains("error_key"),
        "raw JSON shown: {shown}"
    );
    let slug_note = browser
        .until("return document.querySelector('form.create-tenant [name=slug][aria-invalid=true] + .field-error')?.innerText", "the slug's own message")
        .await;
    assert!(!slug_note.as_str().unwrap().is_empty());
    browser
        .shot_at("form.create-tenant", "validation-422")
        .await;

    // Create a tenant with a callback URL: its secret is shown once, then its page.
    receiver.set_mode(Mode::Down(500));
    browser
        .type_into("form.create-tenant [name=slug]", "campana-norte")
        .await;
    browser
        .type_into("form.create-tenant [name=timezone]", "UTC")
        .await;
    browser
        .type_into("form.create-tenant [name=callback_url]", &receiver.url)
        .await;
    browser
        .click("form.create-tenant button[type=submit]")
        .await;
    let secret = browser
        .until(
            "return document.querySelector('dialog[open] output.secret')?.textContent",
            "the callback secret",
        )
        .await;
    browser.shot("callback-secret-once").await;
    browser
        .click("dialog[open] .actions button:not(.copy)")
        .await;
    let hash = browser
        .until("return /^#\\/tenants\\/\\d+$/.test(location.hash) && document.querySelector('form.provision') && location.hash", "the new tenant's page")
        .await;
    let tenant: i64 = hash
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    tenant_id.set(tenant);
    receiver.set_secret(tenant, secret.as_str().unwrap());
    let stored = app
        .admin(Method::GET, &format!("/api/v1/tenants/{tenant}"), None)
        .await;
    assert_eq!(stored.body["data"]["slug"], "campana-norte");
    browser.shot("tenant-created").await;
    browser.check_page("tenant").await;

    // Provision an instance: the QR code drawn from its raw text.
    browser
        .type_into("form.provision [name=instance_name]", "norte_1")
        .await;
    browser
        .type_into("form.provision [name=daily_message_limit]", "100")
        .await;
    browser.click("form.provision button[type=submit]").await;
    let first_qr = browser
        .until(
            "return document.querySelector('.pairing img.qr[data-source=code]')?.src",
            "the QR image",
        )
        .await;
    assert!(
        first_qr.as_str().unwrap().starts_with("data:image/"),
        "{first_qr}"
    );
    assert_eq!(fake.calls_to("POST /instance/create"), 1);
    browser
        .until(
            "return document.querySelector('h1 .status')?.dataset.status === 'connecting'",
            "the status `connecting`",
        )
        .await;
    browser.check_page("instance").await;
    browser.shot("provisioned-qr").await;
    // Marks this page: a reload would drop the mark.
    browser
        .js("window.relevoNoReload = true; return true")
        .await;

    // Evolution sends a new QR code: the image changes by itself.
    let (_, delivered) = fake.new_qr("norte_1").await;
    assert_eq!(delivered.expect("the webhook").status, StatusCode::OK);
    let script = format!(
        "const src = document.querySelector('.pairing img.qr')?.src; return src && src !== {} && src",
        first_qr
    );
    browser.until(&script, "a new QR image").await;
    browser.shot("qr-refreshed").await;

    // The phone scans it: the page says it is paired, without a reload.
    let opened = fake.open("norte_1", PAIRED_JID).await.expect("the webhook");
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
    browser
        .until("return document.querySelector('h1 .status')?.dataset.status === 'connected' && document.querySelector('.pairing .paired')?.innerText", "the instance paired")
        .await;
    assert_eq!(
        browser.js("return window.relevoNoReload === true").await,
        json!(true),
        "the page was reloaded"
    );
    assert!(browser.text().await.contains("Conectado"));
    browser.shot("paired").await;

    // A sender token, shown once with a copy button.
    browser.click(".breadcrumb a").await;
    browser
        .until(
            "return document.querySelector('form.issue-token')",
            "the tenant page",
        )
        .await;
    browser
        .type_into("form.issue-token [name=name]", "campaña-noviembre")
        .await;
    browser.click("form.issue-token button[type=submit]").await;
    let token = browser
        .until(
            "return document.querySelector('dialog[open] output.secret')?.textContent",
            "the new token",
        )
        .await;
    let token = token.as_str().unwrap().to_string();
    assert!(browser
        .js("return !!document.querySelector('dialog[open] button.copy')")
        .await
        .as_bool()
        .unwrap());
    browser.shot("sender-token-once").await;
    browser
        .click("dialog[open] .actions button:not(.copy)")
        .await;
    browser
        .until("return !document.querySelector('dialog[open]') && document.querySelector('.tokens')?.innerText.includes('campaña-noviembre')", "the token in the list")
        .await;
    let html = browser
        .js("return document.documentElement.outerHTML")
        .await;
    assert!(
        !html.as_str().unwrap().contains(&token),
        "the token is still on the page"
    );

    // A claim through the REST API with that token: the capacity bars move.
    let claim = app.claim(tenant, &token, json!({"count": 7})).await;
    assert_eq!(claim.status, StatusCode::OK, "{}", claim.body);
    assert_eq!(claim.body["data"]["granted"], 7);
    browser
        .until("return document.querySelector('.capacity-list .capacity')?.dataset.sent === '7' && document.querySelector('.capacity-total .capacity')?.innerText.includes('7 / 100')", "7 / 100 sent today")
        .await;
    browser
        .until("return document.querySelector('.instances tr[data-instance-id] .status')?.dataset.status === 'connected'", "the instance connected in the list")
        .await;
    browser
        .shot_at(".capacity-total", "capacity-after-claim")
        .await;
    browser.shot_at(".history", "history-chart").await;
    let drawn = browser
        .js("const c = document.querySelector('.history canvas'); return c ? c.width * c.height : 0")
        .await;
    assert!(
        drawn.as_i64().unwrap() > 0,
        "the history chart was not drawn"
    );

    // The delivery log: the receiver refused the tenant's events; one replayed is delivered.
    let report = app.deliver().await;
    assert!(report.retried > 0, "{report:?}");
    browser.click(".delivery-log .filters button").await;
    let event = browser
        .until("const row = [...document.querySelectorAll('.deliveries tr[data-event-id]')].find((row) => row.innerText.includes('500')); return row && row.dataset.eventId", "a refused delivery")
        .await;
    browser.shot_at(".deliveries", "deliveries-refused").await;
    receiver.set_mode(Mode::Healthy);
    let replay = format!(".deliveries tr[data-event-id={event}] button");
    browser.click(&replay).await;
    browser
        .until(
            "return document.querySelector('#toasts')?.innerText.includes('reenviado')",
            "the replay acknowledged",
        )
        .await;
    let report = app.deliver().await;
    assert!(report.delivered >= 1, "{report:?}");
    browser.click(".delivery-log .filters button").await;
    let delivered = format!("return document.querySelector('.deliveries tr[data-event-id={event}] [data-status]')?.dataset.status === 'delivered'");
    browser
        .until(&delivered, "the replayed event delivered")
        .await;
    let event = event.as_str().unwrap();
    assert!(receiver
        .accepted()
        .iter()
        .any(|got| got.verified && got.event_id == event));
    browser.shot_at(".deliveries", "deliveries-replayed").await;

    // English, then Portuguese: the page and the API's messages follow.
    browser
        .client
        .find(Locator::Css("#lang"))
        .await
        .expect("language select")
        .select_by_value("en")
        .await
        .expect("English");
    browser
        .until(
            "return document.querySelector('main')?.innerText.includes('Capacity today')",
            "the page in English",
        )
        .await;
    browser.shot("english").await;
    browser
        .client
        .find(Locator::Css("#lang"))
        .await
        .expect("language select")
        .select_by_value("pt")
        .await
        .expect("Portuguese");
    browser
        .until(
            "return document.querySelector('main')?.innerText.includes('Capacidade de hoje')",
            "the page in Portuguese",
        )
        .await;
    browser.check_page("tenant (pt)").await;
    browser
        .client
        .find(Locator::Css("#lang"))
        .await
        .expect("language select")
        .select_by_value("es")
        .await
        .expect("Spanish");

    // Keyboard: from the top of the page, Tab reaches the provision form's button.
    browser
        .js("document.activeElement?.blur(); window.scrollTo(0, 0); return true")
        .await;
    let mut reached = false;
    for _ in 0..200 {
        let tab = KeyActions::new("keyboard".into())
            .then(KeyAction::Down {
                value: Key::Tab.into(),
            })
            .then(KeyAction::Up {
                value: Key::Tab.into(),
            });
        browser.client.perform_actions(tab).await.expect("Tab");
        if browser
            .js("return document.activeElement?.matches('form.provision button[type=submit]') === true")
            .await
            == json!(true)
        {
            reached = true;
            break;
        }
    }
    assert!(reached, "Tab never reached the provision button");

    // Every tenant's instances, the Evolution servers with their health, the audit log.
    browser.click("#nav a[href='#/instances']").await;
    browser
        .until("return document.querySelector('.instances tr[data-instance-id] .status')?.dataset.status === 'connected'", "all instances")
        .await;
    browser.check_page("instances").await;
    browser.shot("all-instances").await;
    browser.click("#nav a[href='#/servers']").await;
    let health = browser
        .until(
            "return document.querySelector('.health.ok')?.innerText",
            "a healthy server",
        )
        .await;
    assert!(health.as_str().unwrap().contains("2.3.6"), "{health}");
    let notice = browser
        .until(
            "return document.querySelector('#evolution-notice')?.innerText",
            "the notice that instances run on Evolution API",
        )
        .await;
    assert!(
        notice.as_str().unwrap().contains("Evolution API"),
        "{notice}"
    );
    browser.check_page("servers").await;
    browser.shot("servers-health").await;
    browser.click("#nav a[href='#/audit']").await;
    browser
        .until("return document.querySelector('main table')?.innerText.includes('instance.provisioned')", "the audit log")
        .await;
    browser.check_page("audit").await;
    browser.shot("audit-log").await;

    // Delete asks first: cancelling keeps the instance.
    browser
        .goto(&format!(
            "#/tenants/{tenant}/instances/{}",
            first_instance(app, tenant).await
        ))
        .await;
    browser
        .until(
            "return document.querySelector('.toolbar button.danger')",
            "the instance's actions",
        )
        .await;
    browser.click(".toolbar button.danger").await;
    browser
        .until(
            "return document.querySelector('dialog[open].confirm')?.innerText",
            "the confirmation dialog",
        )
        .await;
    browser.shot("delete-confirmation").await;
    browser.click("dialog[open].confirm button.secondary").await;
    browser
        .until(
            "return !document.querySelector('dialog[open]')",
            "the dialog closed",
        )
        .await;
    assert_eq!(
        app.list_total(&format!("/api/v1/tenants/{tenant}/whatsapp-instances"))
            .await,
        1
    );
}

async fn first_instance(app: &TestApp, tenant: i64) -> i64 {
    let list = app
        .admin(
            Method::GET,
            &format!("/api/v1/tenants/{tenant}/whatsapp-instances"),
            None,
        )
        .await;
    list.body["data"][0]["id"].as_i64().expect("an instance")
}

async fn phone_steps(browser: &mut Browser, tenant: i64) {
    browser
        .log_in(crate::helpers::ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD)
        .await;
    assert_eq!(browser.js("return innerWidth").await, json!(390));
    browser.check_page("tenants (phone)").await;
    browser.shot("tenants").await;
    browser.goto(&format!("#/tenants/{tenant}")).await;
    browser
        .until("return document.querySelector('.capacity-total .capacity')?.innerText.includes('7 / 100')", "the tenant's capacity")
        .await;
    browser.check_page("tenant (phone)").await;
    browser.shot("tenant").await;
    browser.click(".instances tr[data-instance-id] a").await;
    browser
        .until(
            "return document.querySelector('.pairing .paired')",
            "the paired instance",
        )
        .await;
    browser.check_page("instance (phone)").await;
    browser.shot("instance").await;
}

async fn tenant_user_steps(browser: &mut Browser) {
    browser.log_in("lectora@norte.test", USER_PASSWORD).await;
    browser
        .until("return location.hash === '#/my' && document.querySelector('.instances tr[data-instance-id]')", "the tenant user's own tenant")
        .await;
    let text = browser.text().await;
    assert!(
        text.contains("Campaña Norte") && text.contains("norte_1"),
        "{text}"
    );
    let controls = browser
        .js("return document.querySelectorAll('main form, main button').length")
        .await;
    assert_eq!(
        controls,
        json!(0),
        "a tenant user's page has no forms or buttons"
    );
    browser.check_page("tenant (tenant user)").await;
    browser.shot("own-tenant").await;
    browser.click(".instances tr[data-instance-id] a").await;
    browser
        .until(
            "return document.querySelector('h1 .status')?.dataset.status === 'connected'",
            "the instance, read-only",
        )
        .await;
    assert_eq!(
        browser
            .js("return document.querySelectorAll('main form, main button, .pairing').length")
            .await,
        json!(0)
    );
    browser.shot("own-instance").await;
}

/// The console's files come from the binary, with their content types; anything else
/// under `/console/` is the API's JSON 404, and only GET and HEAD are taken.
#[tokio::test]
async fn the_binary_serves_the_console_and_nothing_else_under_its_path() {
    let app = crate::spawn_or_skip!(Backend::Sqlite);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let get = |path: &str| client.get(format!("{}{path}", app.address)).send();

    let redirect = get("/console").await.expect("answer");
    assert_eq!(redirect.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(redirect.headers()["location"], "/console/");

    let page = get("/console/").await.expect("answer");
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        policy.contains("default-src 'self'") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
    let etag = page.headers()["etag"].clone();
    assert!(page
        .text()
        .await
        .unwrap()
        .contains(r#"<script type="module" src="js/app.js">"#));

    for (path, content_type) in [
        ("/console/index.html", "text/html; charset=utf-8"),
        ("/console/app.css", "text/css; charset=utf-8"),
        ("/console/js/app.js", "text/javascript; charset=utf-8"),
        (
            "/console/vendor/qrcode.mjs",
            "text/javascript; charset=utf-8",
        ),
        (
            "/console/vendor/uPlot.iife.min.js",
            "text/javascript; charset=utf-8",
        ),
    ] {
        let file = get(path).await.expect("answer");
        assert_eq!(file.status(), StatusCode::OK, "{path}");
        assert_eq!(file.headers()["content-type"], content_type, "{path}");
        assert_eq!(
            file.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
    }

    let unchanged = client
        .get(format!("{}/console/", app.address))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("answer");
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);

    for path in [
        "/console/missing.js",
        "/console/js/",
        "/console/%2e%2e/Cargo.toml",
    ] {
        let missing = into_reply(get(path).await.expect("answer")).await;
        assert_error_in(&missing, StatusCode::NOT_FOUND, "route.not_found", path);
    }

    let posted = client
        .post(format!("{}/console/index.html", app.address))
        .send()
        .await
        .expect("answer");
    let posted = into_reply(posted).await;
    assert_error(
        &posted,
        StatusCode::METHOD_NOT_ALLOWED,
        "route.method_not_allowed",
    );
    assert_eq!(posted.headers["allow"], "GET, HEAD");
}

/// The console is a client of the public API: every API path written in its code is an
/// operation of the OpenAPI document, and the console itself is not one.
#[test]
fn the_console_calls_only_documented_endpoints() {
    let document = relevo::openapi::document();
    assert!(document
        .paths
        .paths
        .keys()
        .all(|path| !path.starts_with("/console")));
    let literal = regex::Regex::new(r#"["'`](/api/v1/[^"'`?]*)"#).unwrap();
    let placeholder = regex::Regex::new(r"\$\{[^}]*\}").unwrap();
    let mut checked = 0;
    let mut directories = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("console/js")];
    while let Some(directory) = directories.pop() {
        for entry in std::fs::read_dir(&directory).expect("console/js") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                directories.push(path);
                continue;
            }
            let code = std::fs::read_to_string(&path).expect("a JavaScript file");
            for found in literal.captures_iter(&code) {
                let api_path = placeholder.replace_all(&found[1], "1");
                assert!(
                    relevo::edge::RouteTable::documented()
                        .allowed(&api_path)
                        .is_some(),
                    "{}: {api_path} is not in the OpenAPI document",
                    path.display()
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 20,
        "only {checked} API paths found in the console"
    );
}
