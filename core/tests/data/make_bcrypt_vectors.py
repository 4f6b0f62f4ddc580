#!/usr/bin/env python3
"""Writes bcrypt_vectors.json: bcrypt hashes made by implementations other than
the Rust `bcrypt` crate that secrets-core uses.

- Published vectors are copied verbatim (Openwall crypt_blowfish wrapper.c, as
  quoted by php-src ext/standard/tests/strings/crypt_blowfish.phpt; the PHP
  manual's password_verify() examples). That list includes passwords that are
  not UTF-8 (Latin-1 and KOI8-R bytes, 0xaa/0x55/0xff patterns): they are
  written as `password_hex` (and `wrong_password_hex`,
  `equivalent_password_hex`), with `password` null, since a JSON string
  cannot hold them.
- Generated vectors come from crypt(3) of the system libxcrypt (Debian 12,
  libcrypt.so.1, whose bcrypt is Openwall's crypt_blowfish, in C), called
  through ctypes with fixed salts so the file is reproducible.

Every vector is re-checked here against libxcrypt. pyca/bcrypt is NOT used as
a generator: its wheels embed the Rust `bcrypt` crate (0.17.x), the very
family of code under test, so it would not be an independent check.

Run: python3 core/tests/data/make_bcrypt_vectors.py > core/tests/data/bcrypt_vectors.json
"""

import ctypes
import json
import sys

_lib = ctypes.CDLL("libcrypt.so.1")
_lib.crypt.restype = ctypes.c_char_p
_lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]


def crypt(password, setting: str) -> str:
    if isinstance(password, str):
        password = password.encode("utf-8")
    out = _lib.crypt(password, setting.encode("ascii"))
    if out is None or out.startswith(b"*"):
        raise SystemExit(f"crypt failed for setting {setting}")
    return out.decode("ascii")


OPENWALL = (
    "Openwall crypt_blowfish wrapper.c test vectors, as quoted verbatim in "
    "php-src ext/standard/tests/strings/crypt_blowfish.phpt"
)
PHP_MANUAL = "PHP manual, password_verify() Example #1 (php.net/manual/en/function.password-verify.php)"
LIBXCRYPT = "generated with crypt(3) of libxcrypt 4.4.33 (Debian 12 libcrypt.so.1, Openwall crypt_blowfish) by make_bcrypt_vectors.py"

LONG_72 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
assert len(LONG_72) == 72

vectors = []


def add(name, source, hash_, password, wrong, expect, note=None, equivalent=None):
    v = {"name": name, "source": source, "hash": hash_}
    # Text as a JSON string; bytes that are not UTF-8 as `<key>_hex`.
    for key, value in (("password", password), ("wrong_password", wrong)):
        if isinstance(value, bytes):
            v[key] = None
            v[key + "_hex"] = value.hex()
        else:
            v[key] = value
    v["cost"] = int(hash_[4:6])
    v["expect"] = expect
    if isinstance(equivalent, bytes):
        v["equivalent_password_hex"] = equivalent.hex()
    elif equivalent is not None:
        v["equivalent_password"] = equivalent
    if note:
        v["note"] = note
    vectors.append(v)


# Published, $2a$.
add("openwall U*U", OPENWALL, "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U", "U*V", "match")
add("openwall U*U*", OPENWALL, "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK", "U*U*", "U*U", "match")
add("openwall U*U*U", OPENWALL, "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a", "U*U*U", "U*U*", "match")
add(
    "openwall 100-byte password",
    OPENWALL,
    "$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
    LONG_72 + "chars after 72 are ignored",
    None,
    "refuse_password",
    "other implementations silently ignore bytes after the 72nd, so this hash is also the hash of the "
    "first 72 bytes alone (equivalent_password, which verifies); secrets-core refuses the 100-byte password instead",
    equivalent=LONG_72,
)
add(
    "openwall empty password",
    OPENWALL,
    "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy",
    "",
    "x",
    "refuse_password",
    "secrets-core refuses empty passwords",
)
add(
    "openwall $2x$ (buggy crypt_blowfish < 1.1 mode)",
    OPENWALL,
    "$2x$05$6bNw2HLQYeqHYyBfLMsv/OiwqTymGIGzFsA4hOTWebfehXHNprcAS",
    "\u0451",  # the bytes d1 91
    "e",
    "refuse_hash",
    "$2x$ hashes were made by a known-buggy algorithm for non-ASCII bytes; secrets-core refuses them",
)

# Published, with passwords that are not UTF-8 (bytes, as bcrypt reads them),
# in the order of wrapper.c. The wrong password is the same text re-encoded
# from Latin-1 to UTF-8 (what a host that decoded the bytes as text would
# hash) when that fits in 72 bytes, else the password with its last bit
# flipped.
def wrong_for(pw: bytes):
    utf8 = pw.decode("latin-1").encode("utf-8")
    if len(utf8) <= 72:
        return utf8
    return pw[:-1] + bytes([pw[-1] ^ 1])


def safety_countermeasure_fires(pw: bytes) -> bool:
    """Whether crypt_blowfish's `$2a$` safety countermeasure changes the hash
    of `pw` (BF_set_key in crypt_blowfish.c 1.1+, transcribed): a byte >= 0x80
    sign-extends over bytes that are all 0xff, so the buggy and correct key
    words are equal; crypt_blowfish then flips bit 16 of the first P-array
    word, and its `$2a$` hash differs from the standard algorithm's. Needs a
    0xff byte, so UTF-8 text never triggers it."""
    key = pw + b"\0"
    ptr = sign = diff = 0
    for _ in range(18):
        correct = buggy = 0
        for j in range(4):
            byte = key[ptr]
            correct = ((correct << 8) | byte) & 0xFFFFFFFF
            signed = byte | 0xFFFFFF00 if byte >= 0x80 else byte
            buggy = ((buggy << 8) | signed) & 0xFFFFFFFF
            if j:
                sign |= buggy & 0x80
            ptr = 0 if byte == 0 else ptr + 1
        diff |= correct ^ buggy
    diff |= diff >> 16
    diff &= 0xFFFF
    diff += 0xFFFF
    return bool((sign << 9) & ~diff & 0x10000)


NON_UTF8 = [
    ("$2x$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e", b"\xa3"),
    ("$2x$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e", b"\xff\xff\xa3"),
    ("$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e", b"\xff\xff\xa3"),
    ("$2a$05$/OK.fbVrR/bpIqNJ5ianF.nqd1wy.pTMdcvrRWxyiGL2eMz.2a85.", b"\xff\xff\xa3"),
    ("$2b$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e", b"\xff\xff\xa3"),
    ("$2y$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq", b"\xa3"),
    ("$2a$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq", b"\xa3"),
    ("$2b$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq", b"\xa3"),
    ("$2x$05$/OK.fbVrR/bpIqNJ5ianF.o./n25XVfn6oAPaUvHe.Csk4zRfsYPi", b"1\xa3345"),
    ("$2x$05$/OK.fbVrR/bpIqNJ5ianF.o./n25XVfn6oAPaUvHe.Csk4zRfsYPi", b"\xff\xa3345"),
    ("$2x$05$/OK.fbVrR/bpIqNJ5ianF.o./n25XVfn6oAPaUvHe.Csk4zRfsYPi", b"\xff\xa334\xff\xff\xff\xa3345"),
    ("$2y$05$/OK.fbVrR/bpIqNJ5ianF.o./n25XVfn6oAPaUvHe.Csk4zRfsYPi", b"\xff\xa334\xff\xff\xff\xa3345"),
    ("$2a$05$/OK.fbVrR/bpIqNJ5ianF.ZC1JEJ8Z4gPfpe1JOr/oyPXTWl9EFd.", b"\xff\xa334\xff\xff\xff\xa3345"),
    ("$2y$05$/OK.fbVrR/bpIqNJ5ianF.nRht2l/HRhr6zmCp9vYUvvsqynflf9e", b"\xff\xa3345"),
    ("$2a$05$/OK.fbVrR/bpIqNJ5ianF.nRht2l/HRhr6zmCp9vYUvvsqynflf9e", b"\xff\xa3345"),
    ("$2a$05$/OK.fbVrR/bpIqNJ5ianF.6IflQkJytoRVc1yuaNtHfiuq.FRlSIS", b"\xa3ab"),
    ("$2x$05$/OK.fbVrR/bpIqNJ5ianF.6IflQkJytoRVc1yuaNtHfiuq.FRlSIS", b"\xa3ab"),
    ("$2y$05$/OK.fbVrR/bpIqNJ5ianF.6IflQkJytoRVc1yuaNtHfiuq.FRlSIS", b"\xa3ab"),
    ("$2x$05$6bNw2HLQYeqHYyBfLMsv/O9LIGgn8OMzuDoHfof8AQimSGfcSWxnS", b"\xd0\xc1\xd2\xcf\xcc\xd8"),
    ("$2a$05$/OK.fbVrR/bpIqNJ5ianF.swQOIzjOiJ9GHEPuhEkvqrUyvWhEMx6", b"\xaa" * 72 + b"chars after 72 are ignored as usual"),
    ("$2a$05$/OK.fbVrR/bpIqNJ5ianF.R9xrDjiycxMbQE2bp.vgqlYpW5wx2yy", b"\xaa\x55" * 36),
    ("$2a$05$/OK.fbVrR/bpIqNJ5ianF.9tQZzcJfm3uj2NvJ/n5xkhpqLrMpWCe", b"\x55\xaa\xff" * 24),
]
for hash_, pw in NON_UTF8:
    label = f"openwall {hash_[:4]} non-UTF-8 {len(pw)}-byte password {pw[:6].hex()}"
    if hash_.startswith("$2x$"):
        add(label, OPENWALL, hash_, pw, None, "refuse_hash",
            "$2x$ hashes were made by a known-buggy algorithm for non-ASCII bytes; secrets-core refuses them")
    elif hash_.startswith("$2a$") and safety_countermeasure_fires(pw):
        add(label, OPENWALL, hash_, pw, None, "mismatch",
            "crypt_blowfish's $2a$ safety countermeasure (a byte >= 0x80 after 0xff bytes in one 4-byte key word; "
            "never in UTF-8 text) made this hash differ from the standard bcrypt that secrets-core computes for "
            "every variant: verify says false, never true; the $2b$/$2y$ hash of the same password verifies")
    elif len(pw) > 72:
        add(label, OPENWALL, hash_, pw, None, "refuse_password",
            "over 72 bytes: other implementations ignore the rest, so the hash is also that of the first 72 "
            "bytes (equivalent_password_hex, which verifies); secrets-core refuses the long password instead",
            equivalent=pw[:72])
    else:
        add(label, OPENWALL, hash_, pw, wrong_for(pw), "match", "password bytes that are not UTF-8")

# Published, $2y$.
add("php manual cost 7", PHP_MANUAL + " (older editions)", "$2y$07$BCryptRequires22Chrcte/VlQH0piJtjXl.0t1XkA8pw9dMXTpOq", "rasmuslerdorf", "rasmuslerdorF", "match")
add("php manual cost 12", PHP_MANUAL + " (current edition)", "$2y$12$4Umg0rCJwMswRw/l.SwHvuQV01coP0eWmGzd61QH2RvAOMANUBGC.", "rasmuslerdorf", None, "match",
    "cost 12: the test checks only the correct password to keep the run short")

# Generated by libxcrypt, one salt per case.
generated = [
    ("2b", 4, "abcdefghijklmnopqrstuu", "correct horse battery staple", "correct horse battery stapl"),
    ("2b", 5, "/OK.fbVrR/bpIqNJ5ianF.", "Tr0ub4dor&3", "Tr0ub4dor&4"),
    ("2b", 4, "LhayLxezLhK1LhWvKxCyLO", "p\u00e4ssw\u00f6rd \u043f\u0430\u0440\u043e\u043b\u044c \u65e5\u672c \U0001f511", "passwort"),
    ("2b", 4, "CCCCCCCCCCCCCCCCCCCCC.", LONG_72, LONG_72[:71] + "X"),
    ("2b", 4, "XXXXXXXXXXXXXXXXXXXXXO", "a", "b"),
    ("2y", 4, "abcdefghijklmnopqrstuu", "correct horse battery staple", "Correct horse battery staple"),
    ("2y", 5, "LhayLxezLhK1LhWvKxCyLO", "p\u00e4ssw\u00f6rd \u043f\u0430\u0440\u043e\u043b\u044c \u65e5\u672c \U0001f511", "p\u00e4ssw\u00f6rd"),
    ("2a", 4, "abcdefghijklmnopqrstuu", "correct horse battery staple", "correct horse battery staple "),
    ("2a", 5, "/OK.fbVrR/bpIqNJ5ianF.", "p\u00e4ssw\u00f6rd \u043f\u0430\u0440\u043e\u043b\u044c \u65e5\u672c \U0001f511", "p\u00e4ssw\u00f6rd \u043f\u0430\u0440\u043e\u043b\u044c"),
]
for variant, cost, salt, pw, wrong in generated:
    h = crypt(pw, f"${variant}${cost:02d}${salt}")
    note = None
    if len(pw.encode()) == 72:
        note = "exactly 72 bytes: the longest password accepted"
    elif any(ord(c) > 127 for c in pw):
        note = "non-ASCII UTF-8 password"
    add(f"libxcrypt ${variant}$ cost {cost} {len(pw.encode())}-byte password", LIBXCRYPT, h, pw, wrong, "match", note)

# Cross-check everything with libxcrypt itself.
def field(v, key):
    if key + "_hex" in v:
        return bytes.fromhex(v[key + "_hex"])
    return v.get(key)


for v in vectors:
    password, wrong, equivalent = (field(v, k) for k in ("password", "wrong_password", "equivalent_password"))
    if equivalent is not None:
        assert crypt(password, v["hash"]) == v["hash"], v["name"]
        assert crypt(equivalent, v["hash"]) == v["hash"], v["name"]
    if v["expect"] in ("match", "mismatch"):
        assert crypt(password, v["hash"]) == v["hash"], v["name"]
        if wrong is not None:
            assert crypt(wrong, v["hash"]) != v["hash"], v["name"]

doc = {
    "description": "bcrypt hashes produced by implementations other than the Rust `bcrypt` crate. "
    "expect: match = verify(password) is true and verify(wrong_password) is false; "
    "refuse_password = secrets-core refuses the password itself (longer than 72 bytes, or empty) with InvalidInput, "
    "while the hash is valid: wrong_password (if any) does not verify and equivalent_password (if any) does; "
    "refuse_hash = secrets-core refuses the stored hash with InvalidInput; "
    "mismatch = a valid crypt_blowfish hash that secrets-core's standard bcrypt does not reproduce: verify(password) is false (see note). "
    "A password that is not UTF-8 is given as password_hex (password null); likewise wrong_password_hex "
    "and equivalent_password_hex.",
    "source": "published vectors (" + OPENWALL + "; " + PHP_MANUAL + ") and " + LIBXCRYPT +
    ". Every 'match' vector re-verified with libxcrypt crypt(3) by the generator.",
    "generator": "core/tests/data/make_bcrypt_vectors.py",
    "cross_check": "every 'match' vector with a text password also verifies with pyca/bcrypt 5.0.0 checkpw (the "
    "non-UTF-8 vectors were added later and checked with libxcrypt only); pyca/bcrypt is not an independent "
    "implementation (its wheel embeds the Rust bcrypt crate 0.17.1), so it is not used as a source.",
    "count": len(vectors),
    "tests": vectors,
}
json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
sys.stdout.write("\n")
