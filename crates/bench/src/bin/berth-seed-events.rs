//! `berth-seed-events`: fills a new metadata store with audit events, for
//! the audit log's benchmark (`scripts/benchmarks-events.sh`): millions of pulls spread
//! over repositories, users, tags and the last days, written through the state machine
//! exactly as recorded pulls are (events, their indexes), a batch per transaction.
//!
//!   berth-seed-events --store DATA_DIR/meta.redb --count 10000000

use std::time::Instant;

use anyhow::Context as _;
use berth_meta::command::{PullRecord, RecordPullEvents};
use berth_meta::origin::Origin;
use berth_meta::{Command, StateMachine};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "berth-seed-events", about = "Fills a new metadata store with audit events (pulls)")]
struct Args {
    /// The metadata store (`meta.redb` in a new data directory, before Berth first starts
    /// on it: event times never decrease with ids, so history comes first).
    #[arg(long)]
    store: std::path::PathBuf,
    /// How many events.
    #[arg(long, default_value_t = 10_000_000)]
    count: u64,
    /// Spread over this many repositories (`<namespace>/repo-<n>`).
    #[arg(long, default_value_t = 2000)]
    repos: u64,
    /// And this many users (`user-<n>`).
    #[arg(long, default_value_t = 500)]
    users: u64,
    /// Over this many days up to now.
    #[arg(long, default_value_t = 30)]
    days: u64,
    #[arg(long, default_value = "bench")]
    namespace: String,
    /// Events per transaction.
    #[arg(long, default_value_t = 20_000)]
    batch: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let machine = StateMachine::open(&args.store).with_context(|| format!("opening {}", args.store.display()))?;
    let now = berth_meta::now_millis();
    let start = now.saturating_sub(args.days * 86_400_000);
    let step = (now - start) / args.count.max(1);
    let origin = Origin { at: now, user: None, token: None, source: None, job: Some("seed".into()) };
    let began = Instant::now();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut written = 0;
    while written < args.count {
        let n = args.batch.min(args.count - written);
        let mut pulls = Vec::with_capacity(n as usize);
        for i in written..written + n {
            // xorshift: the same store for the same arguments.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let repository = format!("{}/repo-{}", args.namespace, state % args.repos).parse()?;
            let digest = berth_core::Digest::sha256_of(&(state % 100_000).to_le_bytes());
            let at = start + i * step;
            pulls.push(PullRecord {
                repository,
                digest,
                tag: (!state.is_multiple_of(4)).then(|| format!("v{}", state % 50)),
                user: Some(format!("user-{}", (state >> 20) % args.users)),
                token: None,
                source: Some(format!("10.0.{}.{}", (state >> 8) % 256, state % 250 + 1)),
                count: 1 + (state >> 32) % 3,
                first: at,
                last: at,
            });
        }
        machine.apply_batch_from(vec![Command::RecordPullEvents(RecordPullEvents { pulls })], &origin)?;
        written += n;
        if written % 1_000_000 < args.batch {
            eprintln!("berth-seed-events: {written} events, {:.0} s", began.elapsed().as_secs_f64());
        }
    }
    let secs = began.elapsed().as_secs_f64();
    println!("seeded {written} events in {secs:.0} s ({:.0} events/s)", written as f64 / secs);
    Ok(())
}
