//! Whole numbers as JSON writes them: `60` or `60.0`. JSON Schema counts both
//! as integers, so a field documented as one takes both (serde alone refuses
//! `60.0` for an integer). Use with `#[serde(deserialize_with = "…")]`.

use serde::{de::Error, Deserialize, Deserializer};

fn whole(n: &serde_json::Number) -> Option<i128> {
    n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from)).or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e18).map(|f| f as i128))
}

pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    whole(&n).and_then(|w| u64::try_from(w).ok()).ok_or_else(|| D::Error::custom("a whole number at least 0"))
}

pub fn option_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<serde_json::Number>::deserialize(d)?.map(|n| whole(&n).and_then(|w| u64::try_from(w).ok()).ok_or_else(|| D::Error::custom("a whole number at least 0"))).transpose()
}

pub fn option_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<serde_json::Number>::deserialize(d)?.map(|n| whole(&n).and_then(|w| i64::try_from(w).ok()).ok_or_else(|| D::Error::custom("a whole number"))).transpose()
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct Sized {
        #[serde(deserialize_with = "super::u64")]
        size: u64,
        #[serde(default, deserialize_with = "super::option_i64")]
        ttl: Option<i64>,
    }

    #[test]
    fn whole_numbers_come_written_either_way() {
        let s: Sized = serde_json::from_str(r#"{"size": 1173.0, "ttl": -60}"#).unwrap();
        assert_eq!((s.size, s.ttl), (1173, Some(-60)));
        assert!(serde_json::from_str::<Sized>(r#"{"size": 1.5}"#).is_err());
        assert!(serde_json::from_str::<Sized>(r#"{"size": -1}"#).is_err());
        assert_eq!(serde_json::from_str::<Sized>(r#"{"size": 7}"#).unwrap().ttl, None);
    }
}
