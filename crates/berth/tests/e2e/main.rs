//! End-to-end tests: the real `berth` binary on free loopback ports in temporary
//! directories, driven over HTTP and by real clients (docker, skopeo, podman).
#![allow(clippy::unwrap_used)]

mod harness;

mod attacks;
mod auth;
mod bench;

mod clients;
mod crash;
mod health;
mod manifests;
mod memory;
mod uploads;
mod blobs;
mod cli;
mod listings;
mod lifecycle;
mod failures;
mod ldap;
mod load;
mod trust;
