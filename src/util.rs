//! Small helpers shared by several layers, so that no layer reaches into another for them:
//! content digests (the config hash of a saved plan, flag fingerprints, import's file names).
//!
//! (JSON-pointer escaping, `source::yaml::escape_pointer`, belongs here too; it moves once
//! `source` is free to change.)

use std::fmt::Write;

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::from("sha256:");
    for byte in hash {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_is_prefixed_lower_case_hex() {
        assert_eq!(
            super::sha256(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
