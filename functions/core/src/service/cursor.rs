//! List cursors: the store's "resume after this sort key", sealed with the
//! list it belongs to, so a client can neither forge one nor replay it on
//! another list.

use super::{Podops, ServiceError};

impl Podops {
    pub(crate) fn seal_cursor(&self, list: &str, after: &str) -> String {
        self.cursors.seal(format!("{list}\n{after}").as_bytes())
    }

    pub(crate) fn open_cursor(&self, list: &str, cursor: Option<&str>) -> Result<Option<String>, ServiceError> {
        let Some(cursor) = cursor else { return Ok(None) };
        let payload = self.cursors.open(cursor).ok_or(ServiceError::BadCursor)?;
        let text = String::from_utf8(payload).map_err(|_| ServiceError::BadCursor)?;
        match text.split_once('\n') {
            Some((l, after)) if l == list => Ok(Some(after.to_owned())),
            _ => Err(ServiceError::BadCursor),
        }
    }
}
