//! LDAP / Active Directory: a real OpenLDAP `slapd` on a loopback port, with a throwaway
//! configuration and seed, started per test and stopped by its pid.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::*;

const BASE: &str = "dc=example,dc=org";
const ROOT_DN: &str = "cn=admin,dc=example,dc=org";
const ROOT_PW: &str = "directory-secret";

/// The seed: people and a service tree. Groups are added while the server runs.
fn seed() -> String {
    let mut ldif = format!(
        "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
         dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=groups,{BASE}\nobjectClass: organizationalUnit\nou: groups\n\n"
    );
    for (uid, cn, dept) in
        [("alice", "Alice Liddell", "dev"), ("bob", "Bob Builder", "dev"), ("carol", "Carol Ops", "ops"), ("dave", "Dave Local", "dev")]
    {
        ldif += &format!(
            "dn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {cn}\nsn: {uid}\n\
             mail: {uid}@example.org\ndepartmentNumber: {dept}\nuserPassword: {uid}-ldap-password\n\n"
        );
    }
    ldif
}

/// A running slapd.
pub struct Slapd {
    child: Child,
    /// `ldap://127.0.0.1:<port>`.
    pub url: String,
    /// The CA that signed slapd's certificate (PEM file), for StartTLS.
    pub ca_file: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl Slapd {
    /// Starts slapd, or `None` when it is not installed (and not required).
    pub fn start() -> Option<Slapd> {
        if !client_available("/usr/sbin/slapd", &["-VV"]) || !client_available("ldapadd", &["-VV"]) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("db")).unwrap();

        // A CA and a certificate for 127.0.0.1, so StartTLS can be verified.
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "test directory CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, &ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(d.join("ca.crt"), ca.pem()).unwrap();
        std::fs::write(d.join("server.crt"), cert.pem()).unwrap();
        std::fs::write(d.join("server.key"), key.serialize_pem()).unwrap();

        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let conf = format!(
            "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\ninclude /etc/ldap/schema/nis.schema\n\
             pidfile {d}/slapd.pid\nargsfile {d}/slapd.args\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             TLSCACertificateFile {d}/ca.crt\nTLSCertificateFile {d}/server.crt\nTLSCertificateKeyFile {d}/server.key\n\
             database mdb\nmaxsize 67108864\nsuffix \"{BASE}\"\nrootdn \"{ROOT_DN}\"\nrootpw {ROOT_PW}\ndirectory {d}/db\n",
            d = d.display()
        );
        std::fs::write(d.join("slapd.conf"), conf).unwrap();
        std::fs::write(d.join("seed.ldif"), seed()).unwrap();
        let out = Command::new("/usr/sbin/slapadd")
            .arg("-q")
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .arg("-l")
            .arg(d.join("seed.ldif"))
            .output()
            .unwrap();
        assert!(out.status.success(), "slapadd: {}", String::from_utf8_lossy(&out.stderr));

        let url = format!("ldap://127.0.0.1:{port}");
        let log = std::fs::File::create(d.join("slapd.log")).unwrap();
        // slapd refuses nothing as root, but a test server has no business running as root.
        let as_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
        let mut command = if as_root {
            Command::new("chown").args(["-R", "nobody:nogroup"]).arg(d).status().unwrap();
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/sbin/slapd"]);
            c
        } else {
            Command::new("/usr/sbin/slapd")
        };
        // `-d 0` keeps slapd in the foreground, so the child's pid is slapd's.
        let child = command
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .args(["-h", &format!("{url}/"), "-d", "0"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let slapd = Slapd { child, url, ca_file: d.join("ca.crt"), dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !slapd.tool("ldapsearch", &["-b", "", "-s", "base"], "").status.success() {
            assert!(
                Instant::now() < deadline,
                "slapd did not start: {}",
                std::fs::read_to_string(slapd.dir.path().join("slapd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(slapd)
    }

    /// Runs an OpenLDAP tool bound as the directory's root, with `input` on stdin.
    pub fn tool(&self, tool: &str, args: &[&str], input: &str) -> std::process::Output {
        let mut cmd = Command::new(tool);
        cmd.args(["-x", "-H", &self.url, "-D", ROOT_DN, "-w", ROOT_PW]).args(args);
        crate::clients::with_stdin(cmd, input)
    }

    /// Applies LDIF changes (`changetype` records), asserting success.
    pub fn modify(&self, ldif: &str) {
        let out = self.tool("ldapmodify", &[], ldif);
        assert!(out.status.success(), "ldapmodify: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// `[ldap]` for berth.toml, with extra lines.
    pub fn berth_config(&self, extra: &str) -> String {
        format!(
            "[ldap]\nurl = \"{}\"\nbind_dn = \"{ROOT_DN}\"\nbind_password = \"{ROOT_PW}\"\nuser_base_dn = \"ou=people,{BASE}\"\n\
             user_filter = \"(objectClass=inetOrgPerson)\"\nsync_interval_secs = 0\ntimeout_secs = 5\n{extra}\n",
            self.url
        )
    }

    /// Stops slapd now.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Berth server using the directory as `config` says.
fn berth_with(config: &str, temp: &Path) -> Server {
    let file = temp.join("berth.toml");
    std::fs::write(&file, config).unwrap();
    Server::start_in(&temp.join("data"), &["--config", file.to_str().unwrap()])
}

async fn v2_status(server: &Server, user: &str, password: &str) -> u16 {
    client_as(user, password).get(server.url("/v2/")).send().await.unwrap().status().as_u16()
}

async fn account(server: &Server, name: &str) -> Value {
    client().get(server.url(&format!("/api/v0/accounts/{name}"))).send().await.unwrap().json().await.unwrap()
}

async fn members(server: &Server, org: &str, team: &str) -> Vec<String> {
    let body: Value =
        client().get(server.url(&format!("/api/v0/accounts/{org}/teams/{team}/members"))).send().await.unwrap().json().await.unwrap();
    body["members"].as_array().unwrap().iter().map(|m| m["member"]["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn ldap_login_over_starttls_creates_the_account_and_refuses_wrong_passwords() {
    let Some(mut slapd) = Slapd::start() else { return };
    let temp = tempfile::tempdir().unwrap();
    let config = slapd.berth_config(&format!("start_tls = true\nca_file = \"{}\"", slapd.ca_file.display()));
    let server = berth_with(&config, temp.path());

    // The first login creates the account from the directory entry.
    assert_eq!(account(&server, "alice").await["errors"][0]["code"], "NO_SUCH_ACCOUNT");
    assert_eq!(v2_status(&server, "alice", "alice-ldap-password").await, 200);
    let alice = account(&server, "alice").await;
    assert_eq!(alice["fullName"], "Alice Liddell");
    assert_eq!(alice["email"], "alice@example.org");
    assert_eq!(alice["isActive"], true);
    assert_eq!(alice["isAdmin"], false);

    // Wrong, empty and other users' passwords, unknown users and a differently-cased name
    // are all the same 401.
    for (user, password) in
        [("alice", "wrong"), ("alice", ""), ("alice", "bob-ldap-password"), ("zed", "zed-ldap-password"), ("Alice", "alice-ldap-password")]
    {
        let response = client_as(user, password).get(server.url("/v2/")).send().await.unwrap();
        assert_eq!(response.status(), 401, "{user}/{password}");
        expect_error(response, 401, "UNAUTHORIZED").await;
    }
    // The Docker token service takes directory users too, and local accounts keep their
    // local passwords.
    let token = client_as("bob", "bob-ldap-password")
        .get(server.url("/auth/token?service=berth&scope=repository:bob/app:push,pull"))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    let token: Value = token.json().await.unwrap();
    assert!(token["token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(v2_status(&server, "admin", ADMIN_PASSWORD).await, 200);

    // A directory user pushes to their own namespace with their directory password.
    let status = client_as("bob", "bob-ldap-password").post(server.url("/v2/bob/app/blobs/uploads/")).send().await.unwrap().status();
    assert_eq!(status, 202);

    // The web UI signs directory users in with their directory password, and only with it.
    let browser = reqwest::Client::builder().danger_accept_invalid_certs(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let (form_cookie, csrf) = login_form(&browser, &server.https).await;
    for (password, status) in [("bob-ldap-password", 303), ("wrong", 401)] {
        let response = browser
            .post(format!("{}/login", server.https))
            .header("cookie", &form_cookie)
            .form(&[("username", "bob"), ("password", password), ("csrf", &csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{password}");
        assert_eq!(response.headers().contains_key("set-cookie"), status == 303, "{password}");
    }

    // With the directory down, a directory login is a 503 naming the cause, not a 401;
    // the local administrator still gets in.
    slapd.stop();
    let response = client_as("carol", "carol-ldap-password").get(server.url("/v2/")).send().await.unwrap();
    let body = expect_error(response, 503, "UNAVAILABLE").await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("LDAP"), "{body}");
    assert_eq!(v2_status(&server, "admin", ADMIN_PASSWORD).await, 200);
}

#[tokio::test]
async fn starttls_with_an_untrusted_certificate_is_refused() {
    let Some(slapd) = Slapd::start() else { return };
    let temp = tempfile::tempdir().unwrap();
    // Trust some other CA: the directory's certificate must not be accepted.
    let other = temp.path().join("other-ca.crt");
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    std::fs::write(&other, params.self_signed(&key).unwrap().pem()).unwrap();
    let server = berth_with(&slapd.berth_config(&format!("start_tls = true\nca_file = \"{}\"", other.display())), temp.path());
    let response = client_as("alice", "alice-ldap-password").get(server.url("/v2/")).send().await.unwrap();
    expect_error(response, 503, "UNAVAILABLE").await;
    assert!(server.log_when(|l| l.contains("LDAP")).contains("LDAP"), "the log names the cause");
}

#[tokio::test]
async fn ldap_sync_creates_users_sets_team_members_and_deactivates_removed_users() {
    let Some(slapd) = Slapd::start() else { return };
    let temp = tempfile::tempdir().unwrap();
    let server = berth_with(&slapd.berth_config(""), temp.path());
    let admin = client();
    slapd.modify(&format!(
        "dn: cn=developers,ou=groups,{BASE}\nchangetype: add\nobjectClass: groupOfNames\ncn: developers\n\
         member: uid=alice,ou=people,{BASE}\nmember: UID=Bob, ou=People, {BASE}\n"
    ));
    // A local account with a directory user's name stays local.
    let created =
        admin.post(server.url("/api/v0/accounts")).json(&json!({"name": "dave", "password": "dave local password"})).send().await.unwrap();
    assert_eq!(created.status(), 201);

    // An org with a team per sync mode: a group's members, and a search.
    assert_eq!(admin.post(server.url("/api/v0/accounts")).json(&json!({"name": "eng", "isOrg": true})).send().await.unwrap().status(), 201);
    for team in ["developers", "ops"] {
        let status = admin.post(server.url("/api/v0/accounts/eng/teams")).json(&json!({"name": team})).send().await.unwrap().status();
        assert_eq!(status, 201);
    }
    let group = json!({"enableSync": true, "selectGroupMembers": true, "groupDN": format!("cn=developers,ou=groups,{BASE}"), "groupMemberAttr": "member"});
    let put = admin.put(server.url("/api/v0/accounts/eng/teams/developers/memberSyncConfig")).json(&group).send().await.unwrap();
    assert_eq!(put.status(), 200);
    let search = json!({"enableSync": true, "selectGroupMembers": false, "searchBaseDN": format!("ou=people,{BASE}"), "searchFilter": "(departmentNumber=ops)", "searchScopeSubtree": true});
    let put = admin.put(server.url("/enzi/v0/accounts/eng/teams/ops/memberSyncConfig")).json(&search).send().await.unwrap();
    assert_eq!(put.status(), 200);
    let stored: Value =
        admin.get(server.url("/api/v0/accounts/eng/teams/ops/memberSyncConfig")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stored["searchFilter"], "(departmentNumber=ops)");
    assert_eq!(stored["searchScopeSubtree"], true);
    let bad = admin
        .put(server.url("/api/v0/accounts/eng/teams/ops/memberSyncConfig"))
        .json(&json!({"enableSync": true, "selectGroupMembers": true}))
        .send()
        .await
        .unwrap();
    expect_error(bad, 400, "INVALID_INPUT").await;

    // Only system admins run the sync; before a run there is no report.
    expect_error(admin.get(server.url("/api/v0/ldap/sync")).send().await.unwrap(), 404, "NO_SYNC_YET").await;
    expect_error(
        client_as("dave", "dave local password").post(server.url("/api/v0/ldap/sync")).send().await.unwrap(),
        403,
        "NOT_AUTHORIZED",
    )
    .await;

    let report: Value = admin.post(server.url("/api/v0/ldap/sync")).send().await.unwrap().json().await.unwrap();
    assert_eq!(report["directoryUsers"], 4, "{report}");
    assert_eq!(report["usersCreated"], 3, "{report}");
    assert_eq!(report["usersDeactivated"], 0, "{report}");
    assert_eq!(report["teamsSynced"], 2, "{report}");
    assert_eq!(report["membersAdded"], 3, "{report}");
    let problems = report["problems"].as_array().unwrap();
    assert!(problems.len() == 1 && problems[0].as_str().unwrap().contains("local account \"dave\""), "{report}");
    assert_eq!(members(&server, "eng", "developers").await, ["alice", "bob"]);
    assert_eq!(members(&server, "eng", "ops").await, ["carol"]);
    assert_eq!(account(&server, "bob").await["fullName"], "Bob Builder");
    // dave keeps his local password; his directory password is not his.
    assert_eq!(v2_status(&server, "dave", "dave local password").await, 200);
    assert_eq!(v2_status(&server, "dave", "dave-ldap-password").await, 401);

    // Team membership from the directory is access: developers may push to eng/*.
    let grant = admin
        .put(server.url("/api/v0/repositoryNamespaces/eng/teamAccess/developers"))
        .json(&json!({"accessLevel": "read-write"}))
        .send()
        .await
        .unwrap();
    assert!(grant.status().is_success());
    let status = client_as("bob", "bob-ldap-password").post(server.url("/v2/eng/app/blobs/uploads/")).send().await.unwrap().status();
    assert_eq!(status, 202);
    let status = client_as("carol", "carol-ldap-password").post(server.url("/v2/eng/app/blobs/uploads/")).send().await.unwrap().status();
    assert_eq!(status, 403);

    // Bob leaves the directory, Carol joins the developers; a run follows.
    let out = slapd.tool("ldapdelete", &[&format!("uid=bob,ou=people,{BASE}")], "");
    assert!(out.status.success(), "ldapdelete: {}", String::from_utf8_lossy(&out.stderr));
    slapd.modify(&format!("dn: cn=developers,ou=groups,{BASE}\nchangetype: modify\nadd: member\nmember: uid=carol,ou=people,{BASE}\n"));
    let report: Value = admin.post(server.url("/api/v0/ldap/sync")).send().await.unwrap().json().await.unwrap();
    assert_eq!(report["usersDeactivated"], 1, "{report}");
    assert_eq!(report["usersCreated"], 0, "{report}");
    assert_eq!(report["membersAdded"], 1, "{report}");
    assert_eq!(report["membersRemoved"], 1, "{report}");
    assert_eq!(members(&server, "eng", "developers").await, ["alice", "carol"]);
    assert_eq!(account(&server, "bob").await["isActive"], false);
    // Bob's cached login does not outlive his deactivation.
    assert_eq!(v2_status(&server, "bob", "bob-ldap-password").await, 401);
    let status = client_as("carol", "carol-ldap-password").post(server.url("/v2/eng/app/blobs/uploads/")).send().await.unwrap().status();
    assert_eq!(status, 202);

    let last: Value = admin.get(server.url("/api/v0/ldap/sync")).send().await.unwrap().json().await.unwrap();
    assert_eq!(last, report);

    // The audit log has the run, by the administrator who asked for it, and what it changed.
    let log: Value = admin.get(server.url("/api/v0/events?type=LDAP_SYNC")).send().await.unwrap().json().await.unwrap();
    let run = &log["events"][0];
    assert_eq!(run["user"], "admin", "{log}");
    assert_eq!(run["details"]["usersDeactivated"], 1, "{log}");
    assert_eq!(log["events"].as_array().unwrap().len(), 2, "two runs: {log}");
    let log: Value = admin.get(server.url("/api/v0/events?type=ACCOUNT_UPDATE")).send().await.unwrap().json().await.unwrap();
    assert!(log["events"].as_array().unwrap().iter().any(|e| e["object"] == "bob" && e["user"] == "admin"), "{log}");

    // The system page shows the directory's settings (never the bind password) and the
    // last sync's report.
    let page = ui_page(&server, "admin", ADMIN_PASSWORD, "/system").await;
    for shown in [slapd.url.as_str(), ROOT_DN, "ou=people", "(objectClass=inetOrgPerson)", "Last sync", "1 deactivated"] {
        assert!(page.contains(&html_escaped(shown)), "the system page lacks {shown}: {page}");
    }
    assert!(!page.contains(ROOT_PW), "the system page shows the bind password");
}

fn html_escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&#34;").replace('\'', "&#39;")
}

#[tokio::test]
async fn docker_login_with_a_directory_password() {
    let Some(slapd) = Slapd::start() else { return };
    if !client_available("docker", &["info"]) {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let server = berth_with(&slapd.berth_config(""), temp.path());
    let host = server.https_host();
    let _ca = crate::clients::DockerCa::install(&server);
    let config = temp.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let docker = || {
        let mut c = Command::new("/usr/bin/docker");
        c.env("DOCKER_CONFIG", &config);
        c
    };
    assert!(!crate::clients::docker_login(&docker, "alice", "wrong", &host));
    assert!(crate::clients::docker_login(&docker, "alice", "alice-ldap-password", &host));
    assert!(docker().args(["logout", &host]).status().unwrap().success());
}

#[tokio::test]
async fn sync_without_a_directory_says_so() {
    let server = Server::start();
    expect_error(client().post(server.url("/api/v0/ldap/sync")).send().await.unwrap(), 409, "LDAP_NOT_CONFIGURED").await;
}
