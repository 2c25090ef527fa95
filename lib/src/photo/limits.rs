//! What an input image may be ([`ImageLimits`], DashScope's published limits by default, and the
//! fixed cap on the data URI it is sent as), how a byte limit is written in a message, and the
//! memory guard handed to the decoders.

pub(super) const MIB: usize = 1024 * 1024;

/// What an input image may be. [`Default`] is DashScope's published limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLimits {
    /// The most bytes the decoded file may hold, and the flattened PNG too.
    pub max_bytes: usize,
    /// The least each side may measure, in pixels.
    pub min_side: u32,
    /// The most each side may measure, in pixels.
    pub max_side: u32,
    /// The most memory a decoder may claim, the decoded pixels included: the guard against
    /// decompression bombs. At the default sides a 16-bit RGBA image needs 32 MB.
    pub max_decoder_bytes: u64,
}

impl ImageLimits {
    // wan2.2-i2v-flash's `img_url`: JPEG, JPG, PNG (no alpha), BMP, WEBP; width and height each
    // in [360, 2000] px; at most 10 MB. Checked against the image-to-video API reference
    // (https://help.aliyun.com/zh/model-studio/image-to-video-api-reference, updated 2026-01-18).
    pub const DEFAULT_MAX_BYTES: usize = 10 * MIB;
    pub const DEFAULT_MIN_SIDE: u32 = 360;
    pub const DEFAULT_MAX_SIDE: u32 = 2000;
    /// The longest data URI DashScope takes, the whole `data:<mime>;base64,<data>` string
    /// (10 MiB; DashScope's error message reference). Base64 makes a file a third larger, so
    /// this, not [`Self::DEFAULT_MAX_BYTES`], is what bounds a file sent inline: about 7.5 MB.
    /// Fixed, whatever the limits: it is the form Emo always sends.
    pub const MAX_DATA_URI_BYTES: usize = 10_485_760;
    pub const DEFAULT_MAX_DECODER_BYTES: u64 = 128 * MIB as u64;
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            min_side: Self::DEFAULT_MIN_SIDE,
            max_side: Self::DEFAULT_MAX_SIDE,
            max_decoder_bytes: Self::DEFAULT_MAX_DECODER_BYTES,
        }
    }
}

pub(super) fn human_size(bytes: usize) -> String {
    if bytes.is_multiple_of(MIB) {
        format!("{} MB", bytes / MIB)
    } else if bytes.is_multiple_of(1024) {
        format!("{} KB", bytes / 1024)
    } else {
        format!("{bytes} 字节")
    }
}

/// Decoder limits for the memory guard only: the sides are checked by hand, so the user hears
/// the real dimensions rather than a generic refusal.
pub(super) fn memory_limits(limits: &ImageLimits) -> ::image::Limits {
    let mut l = ::image::Limits::default();
    l.max_alloc = Some(limits.max_decoder_bytes);
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_limits_are_dashscopes() {
        let limits = ImageLimits::default();
        assert_eq!(limits.max_bytes, 10 * 1024 * 1024);
        assert_eq!((limits.min_side, limits.max_side), (360, 2000));
        assert_eq!(ImageLimits::MAX_DATA_URI_BYTES, 10_485_760);
    }
}
