//! `ImportId`: the id of one bulk import, a ULID like a job's.

use crate::ulid_id::ulid_id;

ulid_id!(
    /// An import id.
    ImportId,
    /// Why a string is not an import id.
    InvalidImportId,
    "n import"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_errors_name_imports() {
        let id = ImportId::generate();
        assert_eq!(id.to_string().parse::<ImportId>(), Ok(id));
        assert!(
            "x".parse::<ImportId>()
                .expect_err("not an id")
                .to_string()
                .starts_with("an import id is")
        );
    }
}
