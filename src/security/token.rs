//! Token secrets: 256 bits from the operating system's CSPRNG, shown once as text, kept
//! only as a SHA-256 digest, compared in constant time.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::Error;

/// Every token starts with this, so a leaked one is easy to recognise (and to scan for).
pub const TOKEN_PREFIX: &str = "mct_";

/// Length of a token's text: the prefix and 43 base64url characters (256 bits).
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + 43;

/// The SHA-256 digest of a token's text: all the library keeps of it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TokenDigest(pub [u8; 32]);

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenDigest(…)")
    }
}

impl TokenDigest {
    pub fn of(token: &str) -> TokenDigest {
        TokenDigest(Sha256::digest(token.as_bytes()).into())
    }

    /// The first half: the key the token is looked up by (not secret: it cannot be turned
    /// back into the token).
    pub fn index(&self) -> [u8; 16] {
        let mut k = [0u8; 16];
        k.copy_from_slice(&self.0[..16]);
        k
    }

    /// Compares every byte, whatever the first difference.
    pub fn matches(&self, other: &TokenDigest) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// A token's text, handed out once by [`crate::security::Security::create_token`]. Its
/// `Debug` and `Display` never show it; [`SecretToken::expose`] does. Its memory is
/// overwritten when it is dropped.
pub struct SecretToken(String);

impl SecretToken {
    /// The token's text, to give to the module that will present it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(redacted)")
    }
}

impl fmt::Display for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(a secret token, not shown)")
    }
}

impl Drop for SecretToken {
    fn drop(&mut self) {
        // SAFETY: writing zero bytes keeps the String valid UTF-8 (NUL is a one-byte code
        // point); the String is dropped right after.
        let bytes = unsafe { self.0.as_mut_vec() };
        for b in bytes.iter_mut() {
            // SAFETY: `b` is a valid, aligned, exclusive reference; the volatile write only
            // keeps the compiler from dropping the store as dead.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

/// A token's text as a caller presents it with a request (publish, subscribe, invoke).
/// Used only for the security check and never stored with what the request creates;
/// its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenText(String);

impl TokenText {
    /// Wraps a token's text.
    pub fn new(text: impl Into<String>) -> TokenText {
        TokenText(text.into())
    }

    /// The text, for the check.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenText(redacted)")
    }
}

impl<'de> serde::Deserialize<'de> for TokenText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(TokenText)
    }
}

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url(bytes: &[u8], out: &mut String) {
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(B64URL[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
}

/// A new token from the OS generator, with its digest.
pub(crate) fn generate() -> Result<(SecretToken, TokenDigest), Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| Error::Internal {
        message: format!("the operating system's random number generator failed ({e}); no token was created"),
    })?;
    let mut text = String::with_capacity(TOKEN_LEN);
    text.push_str(TOKEN_PREFIX);
    base64url(&bytes, &mut text);
    bytes.iter_mut().for_each(|b| *b = 0);
    let digest = TokenDigest::of(&text);
    Ok((SecretToken(text), digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_known_vectors() {
        let enc = |b: &[u8]| {
            let mut s = String::new();
            base64url(b, &mut s);
            s
        };
        assert_eq!(enc(b"f"), "Zg");
        assert_eq!(enc(b"fo"), "Zm8");
        assert_eq!(enc(b"foo"), "Zm9v");
        assert_eq!(enc(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn tokens_have_the_prefix_and_length_and_differ() {
        let (a, da) = generate().unwrap();
        let (b, db) = generate().unwrap();
        assert!(a.expose().starts_with(TOKEN_PREFIX));
        assert_eq!(a.expose().len(), TOKEN_LEN);
        assert_ne!(a.expose(), b.expose());
        assert!(da.matches(&TokenDigest::of(a.expose())));
        assert!(!da.matches(&db));
    }

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let (a, d) = generate().unwrap();
        let secret = a.expose().to_owned();
        for shown in [format!("{a:?}"), format!("{a}"), format!("{d:?}")] {
            assert!(!shown.contains(&secret[TOKEN_PREFIX.len()..]), "{shown}");
        }
    }
}
