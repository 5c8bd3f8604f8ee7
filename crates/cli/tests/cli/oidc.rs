//! Single sign-on against a real OpenID provider, the npm package `oidc-provider`
//! (`clients/oidc-e2e`, pinned with its lockfile and installed by `.ci/run`), started by the
//! test: a person signs in to the console in Debian's headless Chromium through "Sign in with
//! SSO", the provider's login and consent pages, gets an account just in time with the role their
//! group maps to, and signing out revokes the session token. The provider enforces PKCE, the
//! registered redirect URI and client authentication, and each is shown refusing: an
//! authorization request without the code challenge, a server whose callback is not registered,
//! and a server with the wrong client secret (its refusal audited). Hand-made bad ID tokens are
//! `crates/server/tests/server/oidc/`. Screenshots go to `target/oidc-screenshots`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use serde_json::Value;
use switchyard_testkit::server::{TestServer, free_port};

use crate::{BIN, fresh_dir};

struct Harness {
    root: PathBuf,
    chromium: String,
    dir: PathBuf,
    issuer: String,
}

/// Ends the provider when the test ends, passed or failed.
struct Provider(Child);

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_provider(harness: &Path, log: &Path, port: u16, redirect: &str, secret: &str) -> Provider {
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let mut child = Command::new("node")
        .arg(harness.join("provider.mjs"))
        .args([&port.to_string(), redirect, secret])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start node");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line == "listening");
    assert!(
        ready,
        "the provider did not start: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    // Keep draining what it prints so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Provider(child)
}

impl Harness {
    /// `serve` with single sign-on on port `listen` (its callback there), data in `name`.
    async fn serve(&self, listen: u16, secret: &str, name: &str) -> TestServer {
        let secret_file = self.dir.join(format!("{name}.secret"));
        std::fs::create_dir_all(&self.dir).unwrap();
        std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
        let redirect = format!("http://127.0.0.1:{listen}/api/v1/auth/oidc/callback");
        let listen = format!("127.0.0.1:{listen}");
        let secret_file = secret_file.display().to_string();
        let data = self.dir.join(name);
        TestServer::binary(BIN)
            .data_dir(&data)
            .args(["--listen", &listen, "--oidc-issuer", &self.issuer])
            .args([
                "--oidc-client-id",
                "switchyard",
                "--oidc-client-secret-file",
            ])
            .args([secret_file.as_str(), "--oidc-redirect-url", &redirect])
            .args(["--oidc-role-map", "engineering=writer,platform=admin"])
            .args(["--oidc-jit-accounts", "--oidc-session-minutes", "60"])
            .start()
            .await
    }

    /// The browser script as `person` against `server`: its `OK` lines, or the failure.
    fn browser(&self, server: &TestServer, person: &str, mode: &str) -> Vec<String> {
        let harness = self.root.join("clients/oidc-e2e");
        let shots = self.root.join("target/oidc-screenshots").join(mode);
        let mut node = Command::new("node")
            .arg(harness.join("sso.mjs"))
            .args([server.base.as_str(), person, mode])
            .arg(&shots)
            .env("CHROMIUM", &self.chromium)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start node");
        let mut stdout = String::new();
        let mut stderr = String::new();
        node.stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        node.stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = node.wait().unwrap();
        assert!(
            status.success(),
            "browser run failed (screenshots in {}):\n{stdout}\n{stderr}",
            shots.display()
        );
        stdout
            .lines()
            .filter(|line| line.starts_with("OK "))
            .map(str::to_owned)
            .collect()
    }
}

async fn newest_audit(server: &TestServer) -> Value {
    let page = server.admin_get("/api/v1/audit?limit=1").await;
    page["records"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_with_a_real_provider_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let harness_dir = root.join("clients/oidc-e2e");
    let chromium = std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into());
    let installed = ["playwright-core", "oidc-provider"]
        .iter()
        .all(|package| harness_dir.join("node_modules").join(package).exists());
    if !installed || !Path::new(&chromium).exists() {
        switchyard_testkit::skip(
            "the SSO test needs Debian's chromium and npm ci --prefix clients/oidc-e2e",
        );
        return;
    }
    let (provider_port, listen) = (free_port(), free_port());
    let redirect = format!("http://127.0.0.1:{listen}/api/v1/auth/oidc/callback");
    let dir = fresh_dir("oidc");
    let provider_log = dir.join("provider.log");
    let _provider = start_provider(
        &harness_dir,
        &provider_log,
        provider_port,
        &redirect,
        "s3cret-of-the-client",
    );
    let harness = Harness {
        root: root.clone(),
        chromium,
        dir,
        issuer: format!("http://127.0.0.1:{provider_port}"),
    };

    // The whole flow in the browser: dana's group maps to writer.
    let server = harness.serve(listen, "s3cret-of-the-client", "good").await;
    let said = harness.browser(&server, "dana", "sign-in");
    assert_eq!(said, ["OK signed-in dana", "OK signed-out token-revoked"]);
    let dana = server.admin_get("/api/v1/accounts/dana").await;
    assert_eq!(dana["roles"], serde_json::json!(["writer"]), "{dana}");
    let signed_in = server.admin_get("/api/v1/audit?limit=20").await;
    let allowed = signed_in["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "account:sign-in" && r["outcome"] == "allowed")
        .cloned()
        .expect("the sign-in is audited");
    assert_eq!(allowed["actor"]["kind"], "oidc", "{allowed}");
    assert_eq!(allowed["after"]["via"], "oidc", "{allowed}");

    // PKCE is required: the same authorization request without its challenge is refused.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let start = http
        .get(format!("{}/api/v1/auth/oidc/start", server.base))
        .send()
        .await
        .unwrap();
    let location = reqwest::Url::parse(start.headers()["location"].to_str().unwrap()).unwrap();
    let without: HashMap<String, String> = location
        .query_pairs()
        .into_owned()
        .filter(|(name, _)| !name.starts_with("code_challenge"))
        .collect();
    let mut bare = location.clone();
    bare.query_pairs_mut().clear().extend_pairs(&without);
    let refused = http.get(bare).send().await.unwrap();
    let answer = refused
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = refused.text().await.unwrap();
    assert!(
        answer.contains("error=invalid_request") || body.contains("code_challenge"),
        "{answer} {body}"
    );
    assert!(!answer.contains("code="), "{answer}");
    // With it, the provider goes on to its login page.
    let login = http.get(location).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    assert!(
        login.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/interaction/")
    );
    server.stop().await;

    // A callback the provider does not have registered: it never redirects there.
    let elsewhere = harness
        .serve(free_port(), "s3cret-of-the-client", "unregistered")
        .await;
    let start = http
        .get(format!("{}/api/v1/auth/oidc/start", elsewhere.base))
        .send()
        .await
        .unwrap();
    let to_provider = start.headers()["location"].to_str().unwrap().to_owned();
    let refused = http.get(to_provider).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.headers().get("location").is_none());
    let body = refused.text().await.unwrap();
    assert!(body.contains("redirect_uri"), "{body}");
    elsewhere.stop().await;

    // The wrong client secret: the provider refuses the code exchange, so does the server.
    let wrong = harness
        .serve(listen, "not-the-secret", "wrong-secret")
        .await;
    let said = harness.browser(&wrong, "dana", "wrong-secret");
    assert_eq!(said, ["OK refused"]);
    let provider_said = std::fs::read_to_string(&provider_log).unwrap();
    assert!(
        provider_said.contains("invalid_client"),
        "the provider refused the client: {provider_said}"
    );
    let denial = newest_audit(&wrong).await;
    assert_eq!(denial["outcome"], "denied", "{denial}");
    assert_eq!(denial["after"]["reason"], "code_exchange", "{denial}");
    assert!(
        denial["after"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid_client"),
        "{denial}"
    );
    wrong.stop().await;
    let _ = std::fs::remove_dir_all(&harness.dir);
}

/// Turning local passwords off without single sign-on would leave no way to sign in: `serve`
/// refuses to start, naming the option.
#[test]
fn no_local_passwords_needs_single_sign_on() {
    let dir = fresh_dir("oidc-no-passwords");
    let output = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--no-local-passwords"])
        .arg("--data-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--oidc-issuer"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
