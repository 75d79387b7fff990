//! The offline rungs of the recovery ladder, run while the registry is stopped, on the
//! data directory its configuration names: `berth restore < backup.tar` and
//! `berth emergency-repair --replica ID`. Both leave a one-member cluster that
//! `berth serve` starts, and that new replicas join (`berth join-token`, `berth join`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{ServeArgs, load};

/// `berth restore`.
#[derive(Args)]
pub struct RestoreArgs {
    /// The master key the backup's secrets are sealed with (the `master.key` of the
    /// registry it was taken from); copied into the data directory. Or set
    /// BERTH_MASTER_KEY, or put the file in the data directory beforehand.
    #[arg(long)]
    master_key_file: Option<PathBuf>,
    #[command(flatten)]
    serve: ServeArgs,
}

/// `berth emergency-repair`.
#[derive(Args)]
pub struct RepairArgs {
    /// The id of the replica whose data directory this is (see `berth status`, or its log).
    #[arg(long)]
    replica: String,
    #[command(flatten)]
    serve: ServeArgs,
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("berth: {e}");
    ExitCode::from(1)
}

/// The configuration, with the data directory's files kept private; a usage error as
/// the exit code otherwise.
fn configure(args: &ServeArgs) -> Result<crate::config::Config, ExitCode> {
    let config = load(args).map_err(|e| {
        eprintln!("berth: {e:#}");
        ExitCode::from(2)
    })?;
    crate::data_dir::private_umask();
    Ok(config)
}

/// Restores a backup read from standard input.
pub fn restore(args: &RestoreArgs) -> ExitCode {
    let config = match configure(&args.serve) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let _held = match crate::data_dir::take(&config.data_dir) {
        Ok(held) => held,
        Err(e) => return fail(format!("{e:#}")),
    };
    let from_file = match &args.master_key_file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some(berth_core::Secret::new(text.trim().to_owned())),
            Err(e) => return fail(format!("reading {}: {e}", path.display())),
        },
        None => None,
    };
    let key = from_file.as_ref().or(config.master_key.as_ref());
    let input = std::io::BufReader::with_capacity(1 << 20, std::io::stdin().lock());
    let advertise = config.advertise_for(config.https_listen);
    match berth_services::backup::restore(&config.data_dir, &config.storage, input, key, from_file.is_some(), &advertise) {
        Ok(restored) => {
            let m = &restored.manifest;
            println!(
                "berth: restored the backup of replica {} (cluster {}, {} files, up to command {}) into {}",
                m.replica,
                m.cluster,
                m.files.len(),
                m.applied_index,
                config.data_dir.display()
            );
            println!("berth: it is replica {} of a new cluster {}; start it with berth serve", restored.replica, restored.cluster);
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// Repairs a replica that survived the loss of a majority.
pub fn emergency_repair(args: &RepairArgs) -> ExitCode {
    let config = match configure(&args.serve) {
        Ok(config) => config,
        Err(code) => return code,
    };
    // A missing directory is the repair's own error to report.
    let _held = match config.data_dir.is_dir().then(|| crate::data_dir::lock(&config.data_dir)).transpose() {
        Ok(held) => held,
        Err(e) => return fail(format!("{e:#}")),
    };
    let advertise = config.advertise_for(config.https_listen);
    match berth_services::cluster::repair::emergency_repair(&config.data_dir, &args.replica, &advertise) {
        Ok(founded) => {
            println!(
                "berth: replica {} is now the only member of a new cluster {} (its log continues after command {})",
                founded.replica, founded.cluster, founded.applied_index
            );
            println!("berth: start it with berth serve; wipe the other replicas' data directories and join them again");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
