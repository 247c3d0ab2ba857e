//! Small helpers shared by several layers, so that no layer reaches into another for them:
//! content digests (the config hash of a saved plan, flag fingerprints, import's file names)
//! and JSON-pointer escaping.

use std::borrow::Cow;
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

/// Escape a key for use in a JSON pointer (RFC 6901).
pub fn escape_pointer(key: &str) -> Cow<'_, str> {
    if key.contains(['~', '/']) {
        Cow::Owned(key.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(key)
    }
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
