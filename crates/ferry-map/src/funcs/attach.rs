//! Attachments (FHIR `Attachment`: `data`, `size`, `hash`, `contentType`): SHA-1 in base64,
//! hex and base64 decoding, byte sizes, and media types from file extensions.

use base64::Engine as _;

use super::FnError;

/// Base64 (RFC 4648, padded) of the SHA-1 of `bytes`: FHIR R4 `Attachment.hash`.
pub fn sha1_base64(bytes: &[u8]) -> String {
    let digest = sha1_smol::Sha1::from(bytes).digest().bytes();
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// Bytes from hex text, as binary columns exported to CSV or text hold them: `4A6F`, `0x4a6f`
/// (MySQL), `\x4a6f` (PostgreSQL `bytea`); spaces between bytes are allowed. Blank -> `None`.
pub fn from_hex(raw: &str) -> Result<Option<Vec<u8>>, FnError> {
    let t = raw.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .or_else(|| t.strip_prefix("\\x"))
        .unwrap_or(t);
    let digits: Vec<u8> = t.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.is_empty() {
        return Ok(None);
    }
    if !digits.len().is_multiple_of(2) {
        return Err(FnError::new("hex text with an odd number of digits", raw));
    }
    let nibble = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    digits
        .chunks(2)
        .map(|p| match (nibble(p[0]), nibble(p[1])) {
            (Some(h), Some(l)) => Ok(h << 4 | l),
            _ => Err(FnError::new("not hex text (0-9, a-f)", raw)),
        })
        .collect::<Result<Vec<u8>, _>>()
        .map(Some)
}

/// The UTF-8 text a base64 value holds (RFC 4648, padding optional, whitespace ignored).
/// Blank -> `None`; not base64, or bytes that are not UTF-8 text -> an error.
pub fn base64_text(raw: &str) -> Result<Option<String>, FnError> {
    let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Ok(None);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&compact))
        .map_err(|_| FnError::new("not base64 (RFC 4648)", raw))?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| FnError::new("the base64 value holds bytes that are not UTF-8 text", raw))
}

/// File extension (lower case) -> IANA media type, for the formats clinical attachments
/// come in.
const MEDIA_TYPES: &[(&str, &str)] = &[
    ("pdf", "application/pdf"),
    ("txt", "text/plain"),
    ("text", "text/plain"),
    ("htm", "text/html"),
    ("html", "text/html"),
    ("xml", "application/xml"),
    ("json", "application/json"),
    ("csv", "text/csv"),
    ("rtf", "application/rtf"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("xls", "application/vnd.ms-excel"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("odt", "application/vnd.oasis.opendocument.text"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("png", "image/png"),
    ("gif", "image/gif"),
    ("bmp", "image/bmp"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    ("svg", "image/svg+xml"),
    ("webp", "image/webp"),
    ("heic", "image/heic"),
    ("dcm", "application/dicom"),
    ("dicom", "application/dicom"),
    ("wav", "audio/wav"),
    ("mp3", "audio/mpeg"),
    ("mp4", "video/mp4"),
    ("zip", "application/zip"),
    ("hl7", "x-application/hl7-v2+er7"),
];

/// The media type (`Attachment.contentType`) of a file name or extension (`scan.PDF`, `.pdf`,
/// `pdf`). Blank -> `None`; an extension not in the list, or no extension -> an error.
pub fn mime_type(raw: &str) -> Result<Option<&'static str>, FnError> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let ext = match t.rsplit_once('.') {
        Some((_, e)) => e,
        None => t,
    }
    .to_ascii_lowercase();
    MEDIA_TYPES
        .iter()
        .find(|(e, _)| *e == ext)
        .map(|(_, m)| Some(*m))
        .ok_or_else(|| {
            FnError::new(
                "no media type known for this file extension: map it with a concept map (`lookup`) or a literal",
                raw,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_base64_is_the_fhir_attachment_hash() {
        // SHA-1("abc") = a9993e36 4706816a ba3e2571 7850c26c 9cd0d89d (FIPS 180-1 example).
        assert_eq!(sha1_base64(b"abc"), "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
        assert_eq!(sha1_base64(b""), "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
    }

    #[test]
    fn hex_in_its_usual_spellings_becomes_bytes() {
        for s in ["4A6F", "0x4a6f", "\\x4A6F", "4a 6f", " 0X4A6F "] {
            assert_eq!(from_hex(s).unwrap(), Some(b"Jo".to_vec()), "{s}");
        }
        assert_eq!(from_hex("").unwrap(), None);
        assert_eq!(from_hex("0x").unwrap(), None);
        for bad in ["4A6", "zz", "0x4g"] {
            let e = from_hex(bad).unwrap_err();
            assert_eq!(e.raw.as_deref(), Some(bad));
        }
    }

    #[test]
    fn base64_text_decodes_with_or_without_padding() {
        assert_eq!(base64_text("Wm/Dqw0K").unwrap().as_deref(), Some("Zoë\r\n"));
        assert_eq!(base64_text("aGk=").unwrap().as_deref(), Some("hi"));
        assert_eq!(base64_text("aGk").unwrap().as_deref(), Some("hi"));
        assert_eq!(base64_text("aG\nk=").unwrap().as_deref(), Some("hi"));
        assert_eq!(base64_text(" ").unwrap(), None);
        assert!(base64_text("not base64!").is_err());
        // 0xFF 0xFE is not UTF-8.
        let e = base64_text("//4=").unwrap_err();
        assert!(e.message.contains("not UTF-8"), "{}", e.message);
    }

    #[test]
    fn media_types_from_names_and_extensions() {
        for (i, o) in [
            ("scan.PDF", "application/pdf"),
            (".jpg", "image/jpeg"),
            ("png", "image/png"),
            ("notes.final.txt", "text/plain"),
            ("ct.dcm", "application/dicom"),
        ] {
            assert_eq!(mime_type(i).unwrap(), Some(o), "{i}");
        }
        assert_eq!(mime_type("").unwrap(), None);
        assert!(mime_type("archive.7z").is_err());
        assert!(mime_type("README").is_err());
    }
}
