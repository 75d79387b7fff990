//! SHA-256 throughput of the candidate crates on this CPU (one core, 1 MiB updates, as the
//! storage writer feeds the hasher): `cargo run --release -p berth-bench --example sha256`.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

fn main() {
    let buf: Vec<u8> = (0..1 << 20).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let rounds = 512;
    let mb = (rounds * buf.len()) as f64 / 1e6;

    let t = Instant::now();
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    for _ in 0..rounds {
        sha2::Digest::update(&mut h, &buf);
    }
    let a = hex::encode(sha2::Digest::finalize(h));
    println!("sha2: {:.0} MB/s", mb / t.elapsed().as_secs_f64());

    let t = Instant::now();
    let mut c = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for _ in 0..rounds {
        c.update(&buf);
    }
    let b = hex::encode(c.finish().as_ref());
    println!("aws-lc-rs: {:.0} MB/s", mb / t.elapsed().as_secs_f64());
    assert_eq!(a, b);
    println!("SHA extensions: {}", std::fs::read_to_string("/proc/cpuinfo").unwrap().contains(" sha_ni"));
}
