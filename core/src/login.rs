//! Login names: one normal form, and no name that can pass for another.
//!
//! Every login name that enters the library (creating a user, bootstrapping a
//! tenant, logging in) goes through [`normalize`], which returns the form that
//! is stored and looked up, or refuses the name:
//!
//! 1. **Compatibility normalization, then lower case** (NFKC, lowercase,
//!    NFKC again, until stable): `ＡＤＭＩＮ@example.com` (full-width
//!    letters), `Admin@Example.com` and `admin@example.com` are one login.
//! 2. **No invisible characters** (Unicode's Default_Ignorable_Code_Point:
//!    zero-width space and joiners, soft hyphen, word joiner, byte-order mark,
//!    variation selectors, tags, ...) and **no bidirectional controls**
//!    (right-to-left override and the other embeddings, isolates and marks),
//!    which make a name render as another; no control characters, no
//!    whitespace.
//! 3. **Outside ASCII, only characters that Unicode allows in identifiers**
//!    (UTS #39 General Security Profile, Identifier_Status=Allowed), so no
//!    look-alike punctuation or symbols.
//! 4. **One script** (UTS #39 single-script, where digits and ASCII
//!    punctuation belong to every script): `аdmin@example.com` with a
//!    Cyrillic `а` is refused.
//! 5. **No non-ASCII name that looks like ASCII**: a name with characters
//!    outside ASCII whose UTS #39 confusable skeleton is all ASCII (written
//!    entirely in Cyrillic or Greek letters that look Latin, say) is
//!    refused, and so is, in a name with ASCII letters, a non-ASCII letter
//!    whose skeleton is ASCII (`ɑdmin` with a Latin alpha).
//!
//! Names in ASCII keep their meaning: the normal form of an ASCII name is its
//! lower case, exactly what earlier versions stored, so existing rows keep
//! their lookup keys. Confusables among ASCII characters themselves (`l` and
//! `1`, `rn` and `m`) are not refused: they are as old as ASCII, and
//! refusing them would refuse ordinary names.
//!
//! ```
//! # fn main() -> Result<(), secrets_core::Error> {
//! use secrets_core::login::normalize;
//!
//! assert_eq!(normalize("Ada@Example.COM")?, "ada@example.com");
//! assert_eq!(normalize("ａｄａ@example.com")?, "ada@example.com"); // full-width
//! assert_eq!(normalize("олег@почта.рф")?, "олег@почта.рф");
//! assert!(normalize("ad\u{200B}a@example.com").is_err()); // zero-width space
//! assert!(normalize("\u{202E}moc.elpmaxe@ada").is_err()); // right-to-left override
//! assert!(normalize("аda@example.com").is_err()); // a Cyrillic `а`
//! # Ok(()) }
//! ```

use unicode_normalization::UnicodeNormalization as _;
use unicode_security::{GeneralSecurityProfile as _, MixedScript as _, skeleton};

use crate::error::{Error, Result};
pub use crate::store::records::MAX_LOGIN_LEN;

/// The longest name looked at at all, as typed: width-changing and
/// ignorable characters aside, normalizing never shrinks a name below a
/// quarter of its length.
const MAX_TYPED_LEN: usize = 4 * MAX_LOGIN_LEN;

/// The normal form of a login name, or why it is refused.
///
/// The result is what the library stores as the user's login and looks up
/// by; applying `normalize` to it again returns it unchanged.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::login::normalize;
///
/// let n = normalize("José@Example.com")?;
/// assert_eq!(n, "josé@example.com");
/// assert_eq!(normalize(&n)?, n);
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`Error::InvalidInput`] (field `login`) for an empty name, one longer
/// than [`MAX_LOGIN_LEN`] bytes once normalized, or one that breaks a rule of
/// the [module docs](self). The message names the offending character by
/// code point, never the whole name (users type passwords into login
/// fields).
pub fn normalize(login: &str) -> Result<String> {
    // Bound the work before any of it: NFKC can expand a character 18-fold,
    // and this runs on unauthenticated input (every login attempt). No
    // name this long can normalize to one that fits.
    if login.len() > MAX_TYPED_LEN {
        return Err(invalid(format!(
            "must be 1 to {MAX_LOGIN_LEN} bytes (UTF-8, once normalized)"
        )));
    }
    // Check the name as typed first, so the message names what was typed
    // (NFKC turns some invisible characters into others).
    check_characters(login)?;
    let mut n = fold(login);
    // NFKC and lower case each preserve the other's result in practice;
    // iterate to a fixed point anyway, and refuse a name that has none.
    let mut rounds = 0;
    loop {
        let again = fold(&n);
        if again == n {
            break;
        }
        rounds += 1;
        if rounds > 3 {
            return Err(invalid("has no stable normal form".to_owned()));
        }
        n = again;
    }
    if n.is_empty() || n.len() > MAX_LOGIN_LEN {
        return Err(invalid(format!(
            "must be 1 to {MAX_LOGIN_LEN} bytes (UTF-8, once normalized)"
        )));
    }
    check_characters(&n)?;
    if n.is_ascii() {
        return Ok(n);
    }
    if let Some(c) = n.chars().find(|c| !c.is_ascii() && !c.identifier_allowed()) {
        return Err(invalid(format!(
            "contains {}, which Unicode does not allow in identifiers (UTS #39)",
            code_point(c)
        )));
    }
    if !n.as_str().is_single_script() {
        return Err(invalid(
            "mixes letters of several scripts (Latin and Cyrillic, say), which lets it pass for another name".to_owned(),
        ));
    }
    if skeleton(&n).all(|c| c.is_ascii()) {
        return Err(invalid(
            "looks like a name in plain ASCII letters but is not one; type it in ASCII".to_owned(),
        ));
    }
    if n.chars().any(|c| c.is_ascii_alphabetic())
        && let Some(c) = n.chars().find(|&c| !c.is_ascii() && looks_ascii(c))
    {
        return Err(invalid(format!(
            "contains {}, which looks like an ASCII letter; type the ASCII letter",
            code_point(c)
        )));
    }
    Ok(n)
}

/// The name a legacy row was stored under: earlier versions lower-cased the
/// name as typed and nothing more. Used only to find rows written before
/// [`normalize`] existed.
#[must_use]
pub fn legacy_key(login: &str) -> String {
    login.to_lowercase()
}

/// NFKC, lower case, NFKC.
fn fold(s: &str) -> String {
    s.nfkc().collect::<String>().to_lowercase().nfkc().collect()
}

/// Whether `c` (not ASCII) has an all-ASCII confusable skeleton.
fn looks_ascii(c: char) -> bool {
    let mut buf = [0_u8; 4];
    let s: &str = c.encode_utf8(&mut buf);
    skeleton(s).all(|k| k.is_ascii())
}

fn check_characters(s: &str) -> Result<()> {
    for c in s.chars() {
        if is_bidi_control(c) {
            return Err(invalid(format!(
                "contains the bidirectional control {}, which makes text render in another order",
                code_point(c)
            )));
        }
        if is_invisible(c) {
            return Err(invalid(format!(
                "contains the invisible character {}",
                code_point(c)
            )));
        }
        if c.is_control() || c.is_whitespace() {
            return Err(invalid(format!(
                "contains the control or space character {}",
                code_point(c)
            )));
        }
    }
    Ok(())
}

/// Unicode's Bidi_Control property (PropList.txt): the marks, embeddings,
/// overrides and isolates.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Unicode's Default_Ignorable_Code_Point property (DerivedCoreProperties.txt,
/// Unicode 15.1): characters that render as nothing.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

fn code_point(c: char) -> String {
    format!("`U+{:04X}`", u32::from(c))
}

fn invalid(reason: String) -> Error {
    Error::invalid("login", reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> String {
        match normalize(s) {
            Err(Error::InvalidInput {
                field: "login",
                reason,
            }) => reason,
            other => panic!("{s:?}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_huge_name_is_refused_before_any_normalization() {
        // U+FDFA is one character that NFKC expands to 18.
        let huge = "\u{FDFA}".repeat(100_000);
        assert!(refused(&huge).contains("bytes"));
        assert!(refused(&"a".repeat(MAX_TYPED_LEN + 1)).contains("bytes"));
    }

    #[test]
    fn ascii_names_fold_case_only() {
        for (typed, n) in [
            ("Admin@Example.com", "admin@example.com"),
            ("a.b+c_d-e@x.io", "a.b+c_d-e@x.io"),
            ("user1@x", "user1@x"),
            ("userl@x", "userl@x"),
            ("modern@x", "modern@x"),
        ] {
            assert_eq!(normalize(typed).unwrap(), n);
            assert_eq!(legacy_key(typed), n, "ASCII keys are unchanged");
        }
    }

    #[test]
    fn compatibility_forms_collapse() {
        for typed in [
            "ａｄｍｉｎ@example.com",
            "ＡＤＭＩＮ＠ＥＸＡＭＰＬＥ．ＣＯＭ",
            "admin@exａmple.com",
            "\u{1D41A}dmin@example.com", // mathematical bold a
            "ᴬdmin@example.com",         // modifier capital A
        ] {
            assert_eq!(normalize(typed).unwrap(), "admin@example.com", "{typed:?}");
        }
        assert_eq!(normalize("ﬁsh@x").unwrap(), "fish@x");
    }

    #[test]
    fn invisible_and_bidi_characters_are_refused() {
        for c in [
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{00AD}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{180E}',
            '\u{FE0F}',
            '\u{E0041}',
            '\u{3164}',
            '\u{034F}',
        ] {
            let r = refused(&format!("ad{c}min@example.com"));
            assert!(r.contains("invisible"), "{c:?}: {r}");
            assert!(!r.contains("admin"), "{r}");
        }
        for c in [
            '\u{202E}', '\u{202D}', '\u{2066}', '\u{2067}', '\u{200F}', '\u{061C}',
        ] {
            let r = refused(&format!("{c}moc.elpmaxe@nimda"));
            assert!(r.contains("bidirectional"), "{c:?}: {r}");
        }
        for s in ["", " ", "a b@x", "a\tb", "a\u{7}b", "a\u{A0}b"] {
            refused(s);
        }
        refused(&"a".repeat(MAX_LOGIN_LEN + 1));
        assert!(normalize(&"a".repeat(MAX_LOGIN_LEN)).is_ok());
    }

    #[test]
    fn look_alikes_of_ascii_names_are_refused() {
        for s in [
            "\u{0430}dmin@example.com", // Cyrillic a
            "admin@ex\u{0430}mple.com", // Cyrillic a in the domain
            "\u{0251}dmin@example.com", // Latin alpha
            "adm\u{0131}n@example.com", // dotless i
            // All Cyrillic, and reads "ace@exo.py".
            "\u{0430}\u{0441}\u{0435}@\u{0435}\u{0445}\u{043E}.\u{0440}\u{0443}",
            "\u{03BF}\u{03BF}@\u{03BF}.\u{03BF}", // Greek omicrons
            "admin\u{2010}x@example.com",         // a Unicode hyphen
        ] {
            refused(s);
        }
    }

    #[test]
    fn genuine_non_ascii_names_are_kept() {
        for s in [
            "josé@example.com",
            "müller@example.de",
            "олег@почта.рф",
            "δημήτρης@παράδειγμα.ελ",
            "李雷@例子.中国",
            "さくら@例え.日本",
        ] {
            let n = normalize(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            assert_eq!(normalize(&n).unwrap(), n);
        }
        assert_eq!(normalize("Олег@Почта.РФ").unwrap(), "олег@почта.рф");
    }
}
