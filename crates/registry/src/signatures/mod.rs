//! OCI signatures the signing policy accepts besides the trust data: cosign's simple
//! signing and notation's JWS envelopes, each checked against PEM public keys an
//! administrator configured. Nothing here fetches anything.

pub mod cosign;
pub mod notation;
