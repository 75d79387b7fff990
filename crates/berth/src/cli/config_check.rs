//! `berth config check [FILE]`: the configuration `serve` would run with (the file, then
//! the environment and flags), printed as TOML with secrets redacted, and every problem
//! found in it or in the files it names. Exit code 0 when `serve` could start with it, 2
//! otherwise.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use berth_services::StorageConfig;
use toml::{Table, Value};

use super::ServeArgs;
use crate::config::{Config, ConfigError, DEFAULT_DATA_DIR, FileConfig};

/// What a redacted secret is shown as.
const REDACTED: &str = "<redacted>";

/// Runs the check on `file` (default: `--config`, then `./berth.toml` when present).
pub(crate) fn check(args: &ServeArgs, file: Option<PathBuf>) -> ExitCode {
    let mut args = args.clone();
    if file.is_some() {
        args.config = file;
    }
    let source = match super::config_file(&args) {
        Some(path) => path.display().to_string(),
        None => "no file (./berth.toml does not exist): defaults".into(),
    };
    let layered = match super::layered(&args) {
        Ok(layered) => layered,
        Err(e) => {
            eprintln!("berth: {source}: {e:#}");
            return ExitCode::from(2);
        }
    };
    let mut problems = match super::resolve(layered.clone()) {
        Ok(config) => {
            println!("# The effective settings: {source}, then BERTH_* environment variables and flags.");
            print!("{}", toml::to_string(&effective(&config)).unwrap_or_default());
            Vec::new()
        }
        Err(e) => match e.downcast::<ConfigError>() {
            Ok(ConfigError::Invalid(found)) => found,
            Ok(other) => vec![other.to_string()],
            Err(other) => vec![format!("{other:#}")],
        },
    };
    problems.extend(file_problems(&layered));
    if problems.is_empty() {
        eprintln!("berth: {source}: OK");
        return ExitCode::SUCCESS;
    }
    eprintln!("berth: {source}: {} problem(s):", problems.len());
    problems.iter().for_each(|p| eprintln!("  - {p}"));
    ExitCode::from(2)
}

/// What is wrong with the files and directories the configuration names.
fn file_problems(layered: &FileConfig) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(cert) = &layered.tls.cert {
        pem_problem(&mut problems, "tls.cert", cert, "CERTIFICATE");
    }
    if let Some(key) = &layered.tls.key {
        pem_problem(&mut problems, "tls.key", key, "PRIVATE KEY");
    }
    if let Some(ca) = layered.ldap.as_ref().and_then(|l| l.ca_file.as_ref()) {
        pem_problem(&mut problems, "ldap.ca_file", ca, "CERTIFICATE");
    }
    let data_dir = layered.data_dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    directory_problem(&mut problems, "data_dir", &data_dir);
    if matches!(layered.storage.kind.as_deref(), None | Some("fs")) {
        let storage = layered.storage.path.clone().unwrap_or_else(|| data_dir.join("storage"));
        directory_problem(&mut problems, "storage.path", &storage);
    }
    problems
}

/// A PEM file must be readable and hold a block whose label ends with `label`.
fn pem_problem(problems: &mut Vec<String>, setting: &str, path: &Path, label: &str) {
    match std::fs::read_to_string(path) {
        Err(e) => problems.push(format!("{setting} {}: {e}", path.display())),
        Ok(text) if !text.lines().any(|l| l.starts_with("-----BEGIN ") && l.trim_end().ends_with(&format!("{label}-----"))) => {
            problems.push(format!("{setting} {}: no PEM {label} in it", path.display()));
        }
        Ok(_) => {}
    }
}

/// A directory is created at start where absent: the nearest part of its path that
/// exists must be a directory Berth can write in.
fn directory_problem(problems: &mut Vec<String>, setting: &str, path: &Path) {
    // A relative path's last ancestor is the empty path: the current directory.
    let nearest = path.ancestors().map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p });
    let Some((existing, meta)) = nearest.into_iter().find_map(|p| Some((p, std::fs::metadata(p).ok()?))) else {
        return;
    };
    if !meta.is_dir() {
        problems.push(format!("{setting} {}: {} is not a directory", path.display(), existing.display()));
    } else if meta.permissions().readonly() {
        problems.push(format!("{setting} {}: {} is read-only", path.display(), existing.display()));
    }
}

fn text(value: impl ToString) -> Value {
    Value::String(value.to_string())
}

fn int(value: u64) -> Value {
    Value::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

fn path(value: &Path) -> Value {
    text(value.display())
}

/// The settings as `berth.toml` would spell them, defaults filled, secrets redacted.
fn effective(config: &Config) -> Table {
    let mut top = Table::new();
    top.insert("data_dir".into(), path(&config.data_dir));
    top.insert("https_listen".into(), text(config.https_listen));
    if let Some(http) = config.http_listen {
        top.insert("http_listen".into(), text(http));
    }
    if let Some(url) = &config.external_url {
        top.insert("external_url".into(), text(url.url()));
    }
    top.insert("log_format".into(), text(if config.json_logs { "json" } else { "text" }));
    if let Some((cert, key)) = &config.tls_files {
        let tls = Table::from_iter([("cert".to_owned(), path(cert)), ("key".to_owned(), path(key))]);
        top.insert("tls".into(), Value::Table(tls));
    }
    let limits = Table::from_iter([
        ("max_manifest_size".to_owned(), int(config.max_manifest_size as u64)),
        ("max_upload_size".to_owned(), int(config.max_upload_size)),
        ("upload_idle_expiry_secs".to_owned(), int(config.upload_idle_expiry.as_secs())),
        ("max_header_size".to_owned(), int(config.max_header_size as u64)),
        ("body_idle_timeout_secs".to_owned(), int(config.body_idle_timeout.as_secs())),
        ("max_connections".to_owned(), int(config.max_connections as u64)),
        ("min_password_length".to_owned(), int(config.min_password_length as u64)),
    ]);
    top.insert("limits".into(), Value::Table(limits));
    top.insert("storage".into(), Value::Table(storage(&config.storage)));
    let mut cluster = Table::new();
    if let Some(advertise) = &config.advertise {
        cluster.insert("advertise".into(), text(advertise));
    }
    cluster.insert("write_timeout_secs".into(), int(config.write_timeout.as_secs()));
    if let Some(address) = config.source_address {
        cluster.insert("source_address".into(), text(address));
    }
    top.insert("cluster".into(), Value::Table(cluster));
    let mut gc = Table::new();
    gc.insert("grace_secs".into(), int(config.gc_grace.as_secs()));
    gc.insert("interval_secs".into(), int(config.gc_interval.map_or(0, |i| i.as_secs())));
    if let Some(days) = config.gc_untagged_days {
        gc.insert("untagged_days".into(), int(days));
    }
    top.insert("gc".into(), Value::Table(gc));
    if let Some(ldap) = &config.ldap {
        let o = &ldap.options;
        let mut section = Table::from_iter([
            ("url".to_owned(), text(&o.url)),
            ("start_tls".to_owned(), Value::Boolean(o.start_tls)),
            ("bind_dn".to_owned(), text(&o.bind_dn)),
            ("user_base_dn".to_owned(), text(&o.user_base_dn)),
            ("user_filter".to_owned(), text(&o.user_filter)),
            ("user_subtree".to_owned(), Value::Boolean(o.user_subtree)),
            ("login_attribute".to_owned(), text(&o.login_attribute)),
            ("full_name_attribute".to_owned(), text(&o.full_name_attribute)),
            ("email_attribute".to_owned(), text(&o.email_attribute)),
            ("sync_interval_secs".to_owned(), int(ldap.sync_interval.map_or(0, |i| i.as_secs()))),
            ("timeout_secs".to_owned(), int(o.timeout.as_secs())),
        ]);
        if !o.bind_password.expose().is_empty() {
            section.insert("bind_password".into(), text(REDACTED));
        }
        if let Some(ca) = &ldap.ca_file {
            section.insert("ca_file".into(), path(ca));
        }
        top.insert("ldap".into(), Value::Table(section));
    }
    top
}

fn storage(storage: &StorageConfig) -> Table {
    match storage {
        StorageConfig::Fs { root } => Table::from_iter([("kind".to_owned(), text("fs")), ("path".to_owned(), path(root))]),
        StorageConfig::S3 { options, .. } => {
            let mut table = Table::from_iter([
                ("kind".to_owned(), text("s3")),
                ("bucket".to_owned(), text(&options.bucket)),
                ("prefix".to_owned(), text(&options.prefix)),
                ("path_style".to_owned(), Value::Boolean(options.path_style)),
                ("part_size_mib".to_owned(), int((options.part_size >> 20) as u64)),
                ("part_buffers".to_owned(), int(options.part_buffers as u64)),
            ]);
            let optional = [("region", options.region.as_deref()), ("endpoint", options.endpoint.as_deref())];
            for (name, value) in optional {
                if let Some(value) = value {
                    table.insert(name.into(), text(value));
                }
            }
            if let Some(key) = &options.access_key_id {
                table.insert("access_key_id".into(), text(key));
            }
            if options.secret_access_key.is_some() {
                table.insert("secret_access_key".into(), text(REDACTED));
            }
            table
        }
    }
}
