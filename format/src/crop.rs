//! The crop a client may ask of its avatar: a rectangle of the upright
//! image, checked here so that the API refuses a wrong one before any job
//! exists, and the pipeline places the same rectangle.

use std::fmt;

/// A rectangle of the upright image (after EXIF orientation, or the HEIF
/// container's rotation and mirroring), as fractions of its width and
/// height: `left` and `top` of its corner, `width` and `height` of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crop {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
}

impl fmt::Display for Crop {
    /// `LEFT,TOP,WIDTH,HEIGHT`, each number as short as it reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},{},{},{}",
            self.left, self.top, self.width, self.height
        )
    }
}

impl Crop {
    /// The crop `LEFT,TOP,WIDTH,HEIGHT` names; the error says which number
    /// is wrong and why.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        let [left, top, width, height] = parts[..] else {
            return Err(format!(
                "crop is four numbers LEFT,TOP,WIDTH,HEIGHT; got {} in {text:?}",
                parts.len()
            ));
        };
        let number = |name: &str, value: &str| {
            value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("crop's {name} {value:?} is not a number"))
        };
        let crop = Self {
            left: number("LEFT", left)?,
            top: number("TOP", top)?,
            width: number("WIDTH", width)?,
            height: number("HEIGHT", height)?,
        };
        crop.check()?;
        Ok(crop)
    }

    /// Whether the rectangle lies in the image and has an area.
    pub fn check(&self) -> Result<(), String> {
        for (name, value) in [
            ("LEFT", self.left),
            ("TOP", self.top),
            ("WIDTH", self.width),
            ("HEIGHT", self.height),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!(
                    "crop's {name} is {value}; each number is a fraction from 0 to 1"
                ));
            }
        }
        if self.width == 0.0 || self.height == 0.0 {
            return Err("crop's WIDTH and HEIGHT must be more than 0".into());
        }
        // A little slack for fractions written with rounding.
        if self.left + self.width > 1.0 + 1e-6 {
            return Err(format!(
                "crop's LEFT + WIDTH is {}: the rectangle goes past the right edge",
                self.left + self.width
            ));
        }
        if self.top + self.height > 1.0 + 1e-6 {
            return Err(format!(
                "crop's TOP + HEIGHT is {}: the rectangle goes past the bottom edge",
                self.top + self.height
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_are_checked_number_by_number() {
        assert!(Crop::parse("0,0,0.5,0.5").is_ok());
        assert!(Crop::parse("0.25, 0.1, 0.5, 0.8").is_ok());
        for (text, says) in [
            ("0,0,0.5", "four numbers"),
            ("0,0,x,0.5", "WIDTH \"x\" is not a number"),
            ("0,0,NaN,0.5", "WIDTH"),
            ("-0.1,0,0.5,0.5", "LEFT is -0.1"),
            ("0,1.5,0.5,0.5", "TOP is 1.5"),
            ("0,0,0,0.5", "more than 0"),
            ("0.6,0,0.5,0.5", "right edge"),
            ("0,0.6,0.5,0.5", "bottom edge"),
        ] {
            let error = Crop::parse(text).expect_err(text);
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn a_crop_reads_back_from_its_text() {
        let crop = Crop::parse("0.1,0.2,0.30000000000000004,0.4").expect("a crop");
        assert_eq!(Crop::parse(&crop.to_string()), Ok(crop));
    }
}
