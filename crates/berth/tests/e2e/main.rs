//! End-to-end tests: the real `berth` binary on free loopback ports in temporary
//! directories, driven over HTTP and by real clients (docker, skopeo, podman).
#![allow(clippy::unwrap_used)]

mod harness;

mod api_document;
mod attacks;
mod auth;
mod bench;
mod cache;

mod blobs;
mod cli;
mod clients;
mod cluster;
mod crash;
mod distribution;
mod events;
mod failures;
mod gc;
mod health;
mod ldap;
mod lifecycle;
mod listings;
mod load;
mod manifests;
mod memory;
mod mirroring;
mod promotion;
mod pruning;
mod quotas;
mod receiver;
mod trust;
mod ui;
mod uploads;
mod webhooks;
