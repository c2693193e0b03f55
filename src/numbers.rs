//! The ranges of the numbers users give, checked before any work starts: clap value parsers for
//! the command-line flags (clap names the flag; `cli::main` prints its message as one line,
//! exit 2), and the same rules as functions for config and study-spec fields.
use std::fmt::Display;
use std::str::FromStr;

/// A count that must be at least 1 (batch sizes, iterations, workers, probe sizes).
fn count<T>(s: &str) -> Result<T, String>
where
    T: FromStr + PartialOrd + From<u8> + Display,
{
    let v: T = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number; give at least 1"))?;
    if v < T::from(1u8) {
        return Err(format!("must be at least 1 (got {v})"));
    }
    Ok(v)
}

/// clap parser: a `u64` of at least 1.
pub fn count_u64(s: &str) -> Result<u64, String> {
    count(s)
}

/// clap parser: a `u32` of at least 1.
pub fn count_u32(s: &str) -> Result<u32, String> {
    count(s)
}

/// clap parser: a `usize` of at least 1.
pub fn count_usize(s: &str) -> Result<usize, String> {
    count(s)
}

/// clap parser: an `i64` of at least 1 (layer widths).
pub fn count_i64(s: &str) -> Result<i64, String> {
    let v: i64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number; give at least 1"))?;
    if v < 1 {
        return Err(format!("must be at least 1 (got {v})"));
    }
    Ok(v)
}

fn float(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if !v.is_finite() {
        return Err(format!("must be a finite number (got {v})"));
    }
    Ok(v)
}

/// clap parser: a finite number above 0 (learning rates, epochs).
pub fn positive(s: &str) -> Result<f64, String> {
    let v = float(s)?;
    check_positive(v)?;
    Ok(v)
}

/// clap parser: a finite number of at least 0 (weight decay).
pub fn non_negative(s: &str) -> Result<f64, String> {
    let v = float(s)?;
    check_non_negative(v)?;
    Ok(v)
}

/// clap parser: a fraction in [0, 1].
pub fn fraction(s: &str) -> Result<f64, String> {
    let v = float(s)?;
    check_fraction(v)?;
    Ok(v)
}

/// clap parser: a fraction strictly between 0 and 1 (a held-out share, which needs both parts).
pub fn open_fraction(s: &str) -> Result<f64, String> {
    let v = float(s)?;
    if !(v > 0.0 && v < 1.0) {
        return Err(format!(
            "must lie strictly between 0 and 1, e.g. 0.2 (got {v})"
        ));
    }
    Ok(v)
}

/// clap parser: a probability in [0, 1) (dropout: 1 would drop everything).
pub fn dropout(s: &str) -> Result<f64, String> {
    let v = float(s)?;
    if !(0.0..1.0).contains(&v) {
        return Err(format!(
            "must be at least 0 and below 1, e.g. 0.5 (got {v})"
        ));
    }
    Ok(v)
}

/// The rule of [`positive`] for an already parsed value (config and spec fields).
pub fn check_positive(v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!("must be a number above 0 (got {v})"))
    }
}

/// The rule of [`non_negative`] for an already parsed value.
pub fn check_non_negative(v: f64) -> Result<(), String> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(format!("must be a number of at least 0 (got {v})"))
    }
}

/// The rule of [`fraction`] for an already parsed value.
pub fn check_fraction(v: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(format!("must lie between 0 and 1 (got {v})"))
    }
}

/// The rule of the count parsers for an already parsed value.
pub fn check_count(v: u64) -> Result<(), String> {
    if v >= 1 {
        Ok(())
    } else {
        Err("must be at least 1 (got 0)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_refuse_zero_and_junk() {
        assert_eq!(count_u64("3"), Ok(3));
        assert_eq!(count_usize("1"), Ok(1));
        assert!(count_u64("0").unwrap_err().contains("at least 1"));
        assert!(count_u32("-1").is_err());
        assert!(count_i64("0").is_err());
        assert!(count_usize("x").unwrap_err().contains("not a whole number"));
    }

    #[test]
    fn floats_refuse_nan_infinity_and_out_of_range() {
        assert_eq!(positive("0.01"), Ok(0.01));
        for bad in ["0", "-1", "nan", "inf", "x"] {
            assert!(positive(bad).is_err(), "{bad}");
        }
        assert_eq!(non_negative("0"), Ok(0.0));
        assert!(non_negative("-1e-9").is_err());
        assert_eq!(fraction("1"), Ok(1.0));
        assert_eq!(fraction("0"), Ok(0.0));
        assert!(fraction("1.5").is_err() && fraction("NaN").is_err());
        assert!(open_fraction("0").is_err() && open_fraction("1").is_err());
        assert_eq!(dropout("0"), Ok(0.0));
        assert!(dropout("1").is_err());
    }
}
