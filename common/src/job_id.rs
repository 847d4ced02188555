//! `JobId`: the id of one avatar job, a ULID (48 bits of time, 80 random
//! bits), so ids sort by creation and cannot be guessed.

use crate::ulid_id::ulid_id;

ulid_id!(
    /// A job id.
    JobId,
    /// Why a string is not a job id.
    InvalidJobId,
    " job"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_round_trip_through_strings() {
        let id = JobId::generate();
        assert_eq!(id.to_string().parse::<JobId>(), Ok(id));
        assert_eq!(id.to_string().len(), 26);
    }

    #[test]
    fn strings_that_are_not_ulids_are_refused() {
        for s in [
            "",
            "abc",
            "../../x",
            &"Z".repeat(27),
            "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
        ] {
            assert!(s.parse::<JobId>().is_err(), "{s:?} was accepted");
        }
    }

    #[test]
    fn the_error_names_the_kind_of_id() {
        assert!(InvalidJobId.to_string().starts_with("a job id is"));
    }
}
