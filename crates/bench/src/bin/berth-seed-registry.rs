//! `berth-seed-registry`: fills a new data directory with the catalog and tags fixtures of
//! `berth-bench` at sizes pushing through the API would take hours to reach (200,000
//! repositories, 1,000,000 tags), for the growth benchmark (`scripts/benchmarks-growth.sh`).
//! Everything is written as a push writes it: the blobs published in the store, and the
//! organization, blob links and manifests applied as commands by the state machine, a
//! batch per transaction. Run it before Berth first starts on the directory.
//!
//!   berth-seed-registry --data-dir DIR --repos 200000 --tags 1000000

use std::time::Instant;

use anyhow::Context as _;
use berth_core::{Digest, RepositoryName, Tag};
use berth_meta::command::{CreateAccount, LinkBlob, PutManifest};
use berth_meta::origin::Origin;
use berth_meta::records::AccountKind;
use berth_meta::{Applied, Command, StateMachine};
use berth_storage::fs::FsStore;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "berth-seed-registry", about = "Fills a new data directory with berth-bench's catalog and tags fixtures")]
struct Args {
    /// A new data directory (`berth serve --data-dir`).
    #[arg(long)]
    data_dir: std::path::PathBuf,
    /// Repositories `<namespace>/c00000`, … of one image each (the catalog fixture).
    #[arg(long, default_value_t = 2000)]
    repos: usize,
    /// Tags `t000000`, … of one image in `<namespace>/tags` (the tags fixture).
    #[arg(long, default_value_t = 10_000)]
    tags: usize,
    /// The organization that holds them.
    #[arg(long, default_value = "bench")]
    namespace: String,
    /// Commands per transaction.
    #[arg(long, default_value_t = 5_000)]
    batch: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.data_dir)?;
    let store = FsStore::open(args.data_dir.join("storage"), u64::MAX)?;
    let machine = StateMachine::open(&args.data_dir.join("meta.redb")).context("opening the metadata store")?;
    let origin = Origin { at: berth_meta::now_millis(), user: Some("admin".into()), token: None, source: None, job: Some("seed".into()) };
    let at = berth_meta::now();
    let began = Instant::now();
    let apply = |commands: Vec<Command>| -> anyhow::Result<()> {
        for applied in machine.apply_batch_from(commands, &origin)? {
            anyhow::ensure!(matches!(applied, Applied::Done), "a seed command was refused: {applied:?}");
        }
        Ok(())
    };
    apply(vec![Command::CreateAccount(CreateAccount {
        name: args.namespace.clone(),
        kind: AccountKind::Org,
        full_name: String::new(),
        email: String::new(),
        password_hash: None,
        active: true,
        admin: false,
        ldap_dn: None,
        at,
        adopt_repositories: false,
    })])?;

    let (config, config_digest, manifest) = berth_bench::catalog_image();
    publish(&store, &args.data_dir, &config_digest, &config)?;
    let config_digest: Digest = config_digest.parse()?;
    let manifest_digest = Digest::sha256_of(&manifest);
    for first in (0..args.repos).step_by(args.batch / 2) {
        let mut commands = Vec::new();
        for i in first..(first + args.batch / 2).min(args.repos) {
            let repository: RepositoryName = format!("{}/c{i:05}", args.namespace).parse()?;
            commands.push(Command::LinkBlob(LinkBlob {
                repository: repository.clone(),
                digest: config_digest.clone(),
                size: config.len() as u64,
                at,
            }));
            commands.push(put_manifest(repository, &manifest_digest, &manifest, vec![config_digest.clone()], "latest".parse()?, at));
        }
        apply(commands)?;
    }
    eprintln!("berth-seed-registry: {} repositories, {:.0} s", args.repos, began.elapsed().as_secs_f64());

    let (blobs, manifest) = berth_bench::tags_image();
    let repository: RepositoryName = format!("{}/tags", args.namespace).parse()?;
    let mut digests = Vec::new();
    let mut links = Vec::new();
    for (digest, bytes) in &blobs {
        publish(&store, &args.data_dir, digest, bytes)?;
        let digest: Digest = digest.parse()?;
        links.push(Command::LinkBlob(LinkBlob { repository: repository.clone(), digest: digest.clone(), size: bytes.len() as u64, at }));
        digests.push(digest);
    }
    apply(links)?;
    let manifest_digest = Digest::sha256_of(&manifest);
    for first in (0..args.tags).step_by(args.batch) {
        let mut commands = Vec::new();
        for i in first..(first + args.batch).min(args.tags) {
            let tag: Tag = format!("t{i:06}").parse()?;
            commands.push(put_manifest(repository.clone(), &manifest_digest, &manifest, digests.clone(), tag, at));
        }
        apply(commands)?;
    }
    let secs = began.elapsed().as_secs_f64();
    println!("seeded {} repositories and {} tags in {secs:.0} s", args.repos, args.tags);
    Ok(())
}

/// The push of `manifest` by `tag` into `repository`.
fn put_manifest(repository: RepositoryName, digest: &Digest, manifest: &[u8], blobs: Vec<Digest>, tag: Tag, at: u64) -> Command {
    Command::PutManifest(PutManifest {
        repository,
        digest: digest.clone(),
        content: manifest.to_vec(),
        media_type: berth_bench::MANIFEST_TYPE.to_owned(),
        artifact_type: None,
        annotations: None,
        blobs,
        children: Vec::new(),
        subject: None,
        tag: Some(tag),
        at,
        pushed_by: Some("admin".into()),
        cached: false,
    })
}

/// Publishes `bytes` as blob `digest` in the store, as a finished upload is.
fn publish(store: &FsStore, data_dir: &std::path::Path, digest: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let file = data_dir.join("storage").join(format!("seed-{}", &digest[7..]));
    std::fs::write(&file, bytes)?;
    store.adopt(&digest.parse()?, &file)?;
    Ok(())
}
