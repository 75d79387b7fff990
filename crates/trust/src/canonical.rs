//! Canonical JSON as Notary signs it (docker/go `canonical/json`, OLPC style): keys
//! sorted byte-wise, no whitespace, only `"` and `\` escaped, integers only.

use serde::Serialize;

/// The canonical encoding of `value`; fails on non-integral numbers.
pub fn encode(value: &impl Serialize) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, olpc_cjson::CanonicalFormatter::new());
    value.serialize(&mut serializer)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_and_escapes_only_quote_and_backslash() {
        let value = json!({"b": 1, "a": {"z": [true, null], "B": "x\"y\\z\n<&>é"}});
        let out = String::from_utf8(encode(&value).unwrap()).unwrap();
        assert_eq!(out, "{\"a\":{\"B\":\"x\\\"y\\\\z\n<&>é\",\"z\":[true,null]},\"b\":1}");
    }

    #[test]
    fn refuses_fractions() {
        assert!(encode(&json!({"a": 1.5})).is_err());
    }
}
