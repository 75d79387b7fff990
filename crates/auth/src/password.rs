//! argon2id password hashes (PHC strings), computed by a small pool of dedicated threads.
//!
//! One hash costs ~100 ms of CPU and 7 MiB of memory. Run on the runtime's blocking
//! pool, forty concurrent logins would take forty threads and 280 MiB. Here at most
//! [`PasswordOptions::hashers`] hashes run at once, on threads of their own; at most
//! [`PasswordOptions::queue`] checks wait, and past that a check is refused at once as
//! busy. Each hash allocates its memory and frees it after: the server's allocator
//! (jemalloc, see the `berth` binary) hands it to the next hash within a second and
//! returns it to the kernel after that, so an idle server holds none of it. Callers
//! cache successful checks.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::phc::{Output, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::Error;

/// The longest password accepted: argon2 takes any length, but hashing megabytes on
/// request would be a cheap denial of service.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// How passwords are checked and what a new one must be.
#[derive(Debug, Clone)]
pub struct PasswordOptions {
    /// The fewest characters a new password may have (NIST SP 800-63B: at least 8, and
    /// no composition rules).
    pub min_length: usize,
    /// Hashes computed at once.
    pub hashers: usize,
    /// Checks that may wait for a hasher before further ones are refused as busy.
    pub queue: usize,
}

impl Default for PasswordOptions {
    fn default() -> Self {
        PasswordOptions { min_length: 8, hashers: 2, queue: 256 }
    }
}

/// OWASP's argon2id profile with the least memory among its equivalent ones (m = 7 MiB,
/// t = 5, p = 1): as costly to attack as the crate's default (m = 19 MiB, t = 2), but a
/// hash holds 12 MiB less. Hashes record their parameters, so hashes made with other
/// ones still verify.
fn params() -> Params {
    Params::new(7 * 1024, 5, 1, Some(32)).unwrap_or_default()
}

/// The most memory a stored hash may ask for (KiB): more than any profile Berth or the
/// crate's defaults use, so that a corrupt or hostile record cannot make a check cost
/// gigabytes.
const MAX_MEMORY_KIB: u32 = 64 * 1024;

/// Computes the argon2 output of `password` and `salt` into `out`, in memory of its own.
fn compute(argon2: &Argon2<'_>, params: &Params, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<(), argon2::Error> {
    let mut memory = vec![Block::new(); params.block_count()];
    argon2.hash_password_into_with_memory(password, salt, out, &mut memory)
}

/// A new PHC string for `password`, with a fresh salt.
fn hash_now(password: &[u8]) -> Result<String, Error> {
    let crypto = |e: &dyn std::fmt::Display| Error::Crypto(e.to_string());
    let params = params();
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|e| crypto(&e))?;
    let mut out = [0u8; 32];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    compute(&argon2, &params, password, &salt, &mut out).map_err(|e| crypto(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().map_err(|e: argon2::password_hash::Error| crypto(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| crypto(&e))?),
        hash: Some(Output::new(&out).map_err(|e| crypto(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `phc` (a malformed one never matches).
fn matches(password: &[u8], phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else { return false };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else { return false };
    let Ok(version) = hash.version.map_or(Ok(Version::default()), Version::try_from) else { return false };
    let Ok(params) = Params::try_from(&hash) else { return false };
    if params.m_cost() > MAX_MEMORY_KIB {
        return false;
    }
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    // `Output`'s equality is constant-time.
    compute(&argon2, &params, password, salt.as_ref(), &mut out).is_ok() && Output::new(&out).is_ok_and(|o| &o == expected)
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing pool.
pub struct Passwords {
    jobs: SyncSender<Job>,
    options: PasswordOptions,
}

impl Passwords {
    /// Starts the pool's threads (they stop when the pool is dropped).
    pub fn new(options: PasswordOptions) -> Passwords {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(options.queue.max(1));
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..options.hashers.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("berth-argon2-{i}")).spawn(move || work(&queue));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "starting a password hashing thread");
            }
        }
        Passwords { jobs, options }
    }

    /// The options in force.
    pub fn options(&self) -> &PasswordOptions {
        &self.options
    }

    /// Runs `f` on the pool; `Busy` when the queue is full.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answer.send(f());
        });
        match self.jobs.try_send(job) {
            Ok(()) => answered.await.map_err(|_| Error::Crypto("a password hashing thread stopped".into())),
            Err(TrySendError::Full(_)) => Err(Error::Busy),
            Err(TrySendError::Disconnected(_)) => Err(Error::Crypto("the password hashing threads have stopped".into())),
        }
    }

    /// Checks that `password` may be set: long enough, not too long.
    pub fn acceptable(&self, password: &str) -> Result<(), Error> {
        let min = self.options.min_length;
        if password.chars().count() < min {
            return Err(Error::Invalid(format!("a password has at least {min} characters")));
        }
        if password.len() > MAX_PASSWORD_LEN {
            return Err(Error::Invalid(format!("a password has at most {MAX_PASSWORD_LEN} bytes")));
        }
        Ok(())
    }

    /// Hashes a new `password` with a fresh salt, after checking it is acceptable.
    pub async fn hash(&self, password: &str) -> Result<String, Error> {
        self.acceptable(password)?;
        let password = password.to_owned();
        self.run(move || hash_now(password.as_bytes())).await?
    }

    /// Whether `password` matches `phc`. A malformed stored hash never matches; without a
    /// stored hash, the time of a check is spent anyway, so that timing does not tell
    /// which accounts exist.
    pub async fn verify(&self, password: &str, phc: Option<String>) -> Result<bool, Error> {
        if password.len() > MAX_PASSWORD_LEN {
            return Ok(false);
        }
        let password = password.to_owned();
        self.run(move || {
            let dummy = dummy_hash();
            let phc = phc.unwrap_or_else(|| dummy.to_owned());
            matches(password.as_bytes(), &phc) && phc != dummy
        })
        .await
    }
}

fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let queue = queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.recv()
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// The hash of a random password nobody knows, with the current parameters (checked
/// against for unknown accounts); made once, at the first need.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let secret = crate::access_token::generate().secret_sha256;
        hash_now(secret.as_bytes()).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let passwords = Passwords::new(PasswordOptions::default());
        let h = passwords.hash("correct horse").await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{h}");
        // A hash made with other parameters (the crate's defaults) still verifies.
        use argon2::password_hash::PasswordHasher as _;
        let old = Argon2::default().hash_password(b"older").unwrap().to_string();
        assert!(old.contains("m=19456,t=2"), "{old}");
        assert!(passwords.verify("older", Some(old.clone())).await.unwrap());
        assert!(!passwords.verify("newer", Some(old)).await.unwrap());
        assert!(passwords.verify("correct horse", Some(h.clone())).await.unwrap());
        use argon2::password_hash::PasswordVerifier as _;
        assert!(Argon2::default().verify_password(b"correct horse", &PasswordHash::new(&h).unwrap()).is_ok(), "a standard PHC string");
        assert!(!passwords.verify("wrong", Some(h)).await.unwrap());
        assert!(!passwords.verify("x", None).await.unwrap());
        assert!(!passwords.verify("x", Some("garbage".into())).await.unwrap());
        assert!(passwords.hash(&"x".repeat(MAX_PASSWORD_LEN + 1)).await.is_err());
    }

    #[tokio::test]
    async fn short_passwords_are_refused_and_counted_in_characters() {
        let passwords = Passwords::new(PasswordOptions { min_length: 8, ..PasswordOptions::default() });
        assert!(matches!(passwords.hash("short").await, Err(Error::Invalid(_))));
        assert!(passwords.acceptable("ünïcödé").is_err(), "7 characters, 11 bytes");
        assert!(passwords.acceptable("ünïcödés").is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_answers_busy() {
        let passwords = Arc::new(Passwords::new(PasswordOptions { min_length: 1, hashers: 1, queue: 1 }));
        let checks: Vec<_> = (0..8)
            .map(|_| {
                let passwords = passwords.clone();
                tokio::spawn(async move { passwords.verify("guess", None).await })
            })
            .collect();
        let mut busy = 0;
        for check in checks {
            if matches!(check.await.unwrap(), Err(Error::Busy)) {
                busy += 1;
            }
        }
        assert!(busy >= 1, "one hashing, one waiting: the rest are refused");
    }
}
