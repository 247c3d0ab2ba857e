//! Mixpanel's 0–1 fractions ↔ the file's 0–100 percentages, exactly.
//!
//! A conversion never multiplies floats (`0.07 * 100` is `7.000000000000001`): it moves the
//! decimal point two places in the number's shortest decimal text (`33.33` ↔ `0.3333`,
//! `25` ↔ `0.25`, `0.5` ↔ `0.005`) and reads the result back. Every number written with at
//! most 15 significant digits, as in a file, thus comes back bit for bit after a round trip.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::Percent;

/// A share from 0 to 1, as Mixpanel's API writes `split`, `rollout_percentage` and
/// `variant_splits`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub(crate) struct Fraction(pub(crate) f64);

impl Fraction {
    /// The fraction of `percent` (`25` → `0.25`); `None` for a value that is not finite.
    pub(crate) fn of_percent(percent: Percent) -> Option<Fraction> {
        shift(percent.get(), -2).map(Fraction)
    }

    /// The percentage of this fraction (`0.3333` → `33.33`); `None` when it is not finite.
    pub(crate) fn percent(self) -> Option<Percent> {
        shift(self.0, 2).map(Percent)
    }
}

impl Serialize for Fraction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0)
    }
}

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        f64::deserialize(deserializer).map(Fraction)
    }
}

/// `value` × 10^`places` (`places` is ±2 here), by moving the decimal point in its shortest
/// decimal text; `None` for NaN or an infinity.
fn shift(value: f64, places: i32) -> Option<f64> {
    if !value.is_finite() {
        return None;
    }
    shift_whole(value, places).or_else(|| shift_text(value, places))
}

/// [`shift_text`]'s result, computed without text when one side is a whole number below
/// 10^12 (`0.25` → `25`, `7` → `0.07`: most of what files and the service hold). Such a whole
/// number `r` is a float exactly, and IEEE division rounds once. A whole `value` has no point
/// in its text, so the text shift gives the float nearest `value / 10^p`: the division's. When
/// the division `r / 10^p` gives back `value`, `value`'s shortest text is `r`'s digits with
/// the point `p` places in (decimals of at most `p` places are 10^-p apart, far more than
/// floats this small), so the text shift gives `r`. `None` otherwise.
fn shift_whole(value: f64, places: i32) -> Option<f64> {
    const LIMIT: f64 = 1e12;
    let scale = 10_f64.powi(places.abs());
    if places > 0 {
        let whole = (value * scale).round();
        // Exactly: the division must give `value` back bit for bit.
        #[allow(clippy::float_cmp)]
        let exact = whole / scale == value;
        (whole.abs() < LIMIT && exact).then_some(whole)
    } else {
        (value.fract() == 0.0 && value.abs() < LIMIT).then(|| value / scale)
    }
}

/// `value` × 10^`places` by moving the decimal point in `value`'s shortest decimal text.
fn shift_text(value: f64, places: i32) -> Option<f64> {
    // `Display` of an `f64` is the shortest text that reads back to it, never in exponent
    // form.
    let text = value.to_string();
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = format!("{whole}{fraction}");
    let point = i64::try_from(whole.len()).ok()? + i64::from(places);
    let length = i64::try_from(digits.len()).ok()?;
    let shifted = if point <= 0 {
        format!(
            "{sign}0.{}{digits}",
            "0".repeat(usize::try_from(-point).ok()?)
        )
    } else if point >= length {
        format!(
            "{sign}{digits}{}",
            "0".repeat(usize::try_from(point - length).ok()?)
        )
    } else {
        let at = usize::try_from(point).ok()?;
        format!("{sign}{}.{}", &digits[..at], &digits[at..])
    };
    shifted.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fraction(percent: f64) -> f64 {
        Fraction::of_percent(Percent(percent)).unwrap().0
    }

    fn percent(fraction: f64) -> f64 {
        Fraction(fraction).percent().unwrap().get()
    }

    #[test]
    fn the_decimal_point_moves_and_no_float_error_creeps_in() {
        assert_eq!(fraction(25.0).to_string(), "0.25");
        assert_eq!(fraction(33.33).to_string(), "0.3333");
        assert_eq!(fraction(7.0).to_string(), "0.07");
        assert_eq!(fraction(100.0).to_string(), "1");
        assert_eq!(fraction(0.0).to_string(), "0");
        assert_eq!(fraction(0.5).to_string(), "0.005");
        assert_eq!(fraction(12.345_678).to_string(), "0.12345678");
        assert_eq!(percent(0.3333).to_string(), "33.33");
        assert_eq!(percent(0.07).to_string(), "7");
        assert_eq!(percent(0.1).to_string(), "10");
        assert_eq!(percent(1.0).to_string(), "100");
        assert_eq!(percent(0.000_01).to_string(), "0.001");
        assert_eq!(percent(-0.5).to_string(), "-50");
        // Float multiplication would not be exact here.
        assert_ne!((0.07_f64 * 100.0).to_string(), "7");
        assert_eq!(fraction(56.7).to_string(), "0.567");
        assert_eq!(percent(0.29).to_string(), "29");
        assert_ne!((56.7_f64 / 100.0).to_string(), "0.567");
        assert_ne!((0.29_f64 * 100.0).to_string(), "29");
        assert!(Fraction::of_percent(Percent(f64::NAN)).is_none());
        assert!(Fraction(f64::INFINITY).percent().is_none());
    }

    #[test]
    fn a_fraction_reads_and_writes_as_the_service_sends_it() {
        let read: Fraction = serde_json::from_str("0.3333").unwrap();
        assert_eq!(percent(read.0).to_string(), "33.33");
        assert_eq!(
            serde_json::to_string(&Fraction::of_percent(Percent(33.33)).unwrap()).unwrap(),
            "0.3333"
        );
    }

    proptest! {
        /// Any percentage written with up to 6 decimals (as in a file) survives percent →
        /// fraction → percent bit for bit, and its fraction is the same digits, moved.
        #[test]
        fn percentages_round_trip_exactly(units in 0_u64..=100_000_000, decimals in 0_u32..=6) {
            let scale = 10_u64.pow(decimals);
            let units = units % (100 * scale + 1);
            let text = if decimals == 0 {
                units.to_string()
            } else {
                format!("{}.{:0width$}", units / scale, units % scale, width = decimals as usize)
            };
            let written: f64 = text.parse().unwrap();
            let there = Fraction::of_percent(Percent(written)).unwrap();
            let expected_fraction: f64 = format!("{text}e-2").parse().unwrap();
            prop_assert_eq!(there.0.to_bits(), expected_fraction.to_bits());
            let back = there.percent().unwrap().get();
            prop_assert_eq!(back.to_bits(), written.to_bits());
        }

        /// Any fraction the service may send with up to 8 decimals comes back bit for bit.
        #[test]
        fn fractions_round_trip_exactly(units in 0_u64..=100_000_000, decimals in 0_u32..=8) {
            let scale = 10_u64.pow(decimals);
            let units = units % (scale + 1);
            let text = format!("{units}e-{decimals}");
            let sent: f64 = text.parse().unwrap();
            let percent = Fraction(sent).percent().unwrap();
            let expected: f64 = format!("{units}e{}", 2 - i64::from(decimals)).parse().unwrap();
            prop_assert_eq!(percent.get().to_bits(), expected.to_bits());
            let back = Fraction::of_percent(percent).unwrap();
            prop_assert_eq!(back.0.to_bits(), sent.to_bits());
        }

        /// Computed without text or with it, a shift is the same float, either way.
        #[test]
        fn the_whole_number_shortcut_is_the_text_shift(
            units in -2_000_000_000_000_i64..=2_000_000_000_000,
            decimals in 0_i32..=10,
            bits in any::<u64>(),
        ) {
            let written: f64 = format!("{units}e-{decimals}").parse().unwrap();
            let arbitrary = f64::from_bits(bits);
            for value in [written, arbitrary, -0.0, 0.0] {
                for places in [2, -2] {
                    if let Some(fast) = shift_whole(value, places) {
                        let text = shift_text(value, places).unwrap();
                        prop_assert_eq!(fast.to_bits(), text.to_bits(), "{} by {}", value, places);
                    }
                }
            }
        }

        /// Any other number (17 significant digits, as float arithmetic leaves them) comes
        /// back within one part in 10^15: far inside the 1e-9 that plans compare to.
        #[test]
        fn any_percentage_comes_back_within_float_precision(percent in 0.0_f64..=100.0) {
            let back = Fraction::of_percent(Percent(percent)).unwrap().percent().unwrap().get();
            prop_assert!((back - percent).abs() <= percent * 1e-15, "{percent} → {back}");
        }
    }
}
