//! A real S3-compatible server for tests: `s3s-fs` (from crates.io), started on a free
//! loopback port over a temporary directory, stopped (by its pid) when dropped, or when
//! the test process ends without dropping it (a server kept in a `static`): a small
//! shell watches the test process, then stops the server and removes its directory.
//!
//! s3s-fs names a file after each object key (in base64), so keys longer than about 158
//! bytes fail there with "file name too long": keep test prefixes within 14 bytes (a
//! SHA-512 blob's key is 144 bytes without one). Real S3 takes keys of 1024 bytes.
//!
//! The binary is `$S3S_FS`, else `s3s-fs` on the `PATH` or in `~/.cargo/bin`
//! (`cargo install s3s-fs --version 0.14.1 --features binary --locked`).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_core::Secret;

use crate::S3Options;

/// The test bucket's name.
pub const BUCKET: &str = "berth-test";
/// The server's fixed test credentials.
pub const ACCESS_KEY: &str = "AKIABERTHTEST";
/// The secret that goes with [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "berth-test-secret";

/// A running `s3s-fs`.
pub struct S3Server {
    /// The watching shell.
    child: Child,
    /// The server's own pid.
    pid: u32,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    dir: tempfile::TempDir,
}

/// Where the `s3s-fs` binary is, if anywhere.
pub fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("S3S_FS") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|home| home.join("bin"));
    on_path.chain(cargo_home).map(|dir| dir.join("s3s-fs")).find(|candidate| candidate.is_file())
}

impl S3Server {
    /// Starts a server with one empty bucket, [`BUCKET`]; `None` when the binary is missing.
    pub fn start() -> Option<S3Server> {
        let binary = binary()?;
        let dir = tempfile::tempdir().ok()?;
        std::fs::create_dir(dir.path().join(BUCKET)).ok()?;
        // A free port: bound, released, then given to the server (which retries below if
        // another process took it meanwhile).
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
            // The shell starts the server, prints its pid, and stops it once either the
            // test process or the server is gone.
            let watch = r#""$0" --host 127.0.0.1 --port "$1" --access-key "$2" --secret-key "$3" "$4" >/dev/null 2>&1 &
server=$!
echo "$server"
while kill -0 "$5" 2>/dev/null && kill -0 "$server" 2>/dev/null; do sleep 0.5; done
kill "$server" 2>/dev/null
wait "$server" 2>/dev/null
rm -rf "$4""#;
            let mut child = Command::new("sh")
                .args(["-c", watch])
                .arg(&binary)
                .args([&port.to_string(), ACCESS_KEY, SECRET_KEY])
                .arg(dir.path())
                .arg(std::process::id().to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .ok()?;
            let mut line = String::new();
            let stdout = child.stdout.take()?;
            std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).ok()?;
            let pid: u32 = line.trim().parse().ok()?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(S3Server { child, pid, endpoint: format!("http://127.0.0.1:{port}"), dir });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            stop(pid);
            let _ = child.kill();
            let _ = child.wait();
        }
        None
    }

    /// Creates another empty bucket (s3s-fs keeps one as a directory, and walks it to
    /// list: servers that each have their own list faster). Idempotent.
    pub fn create_bucket(&self, name: &str) -> std::io::Result<()> {
        match std::fs::create_dir(self.dir.path().join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    }

    /// Options reaching the test bucket, with the smallest part size S3 accepts (so that
    /// tests cross part boundaries with little data) and keys under `prefix`.
    pub fn options(&self, prefix: &str) -> S3Options {
        self.bucket_options(BUCKET, prefix)
    }

    /// [`S3Server::options`] for another bucket.
    pub fn bucket_options(&self, bucket: &str, prefix: &str) -> S3Options {
        S3Options {
            bucket: bucket.into(),
            prefix: prefix.into(),
            region: Some("us-east-1".into()),
            endpoint: Some(self.endpoint.clone()),
            path_style: true,
            access_key_id: Some(ACCESS_KEY.into()),
            secret_access_key: Some(Secret::new(SECRET_KEY)),
            part_size: S3Options::MIN_PART_SIZE,
            part_buffers: S3Options::DEFAULT_PART_BUFFERS,
        }
    }
}

/// Stops the process `pid` (one this module started).
fn stop(pid: u32) {
    let _ = Command::new("kill").arg(pid.to_string()).stderr(Stdio::null()).status();
}

impl Drop for S3Server {
    fn drop(&mut self) {
        stop(self.pid);
        // The shell sees the server gone within half a second and ends.
        let _ = self.child.wait();
    }
}
