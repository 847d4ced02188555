//! After a DELETE of a user's avatar: removing the user's staged uploads
//! of the jobs accepted before it (the avatars themselves go through the
//! garbage set, see [`super::garbage`]).

use avatar_common::queue::{Deletion, JobQueue};
use avatar_common::storage::Storage;

use super::BATCH;

/// Removes the staged uploads of the deletions due, and forgets each once
/// done; one cut short is taken again when its lease ends.
pub(super) async fn remove(queue: &JobQueue, storage: &Storage) {
    let taken = match queue.take_deletions(BATCH).await {
        Ok(taken) => taken,
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the deletions now");
            return;
        }
    };
    for deletion in taken {
        match remove_staged(queue, storage, &deletion).await {
            Ok(removed) => {
                if let Err(e) = queue.forget_deletion(&deletion).await {
                    tracing::debug!(error = %e, user_id = %deletion.user, "removed, but cannot forget the deletion yet");
                }
                tracing::info!(user_id = %deletion.user, uploads = removed, "removed the staged uploads of a deleted avatar");
            }
            Err(e) => {
                tracing::warn!(error = %e, user_id = %deletion.user, "cannot remove the staged uploads of a deleted avatar yet")
            }
        }
    }
}

/// Deletes the user's staged uploads whose jobs were accepted before the
/// delete; returns how many. An upload whose job has no record yet may be
/// of a job being accepted right now, after the delete: it stays (the
/// staging sweep takes it if it was left behind).
async fn remove_staged(
    queue: &JobQueue,
    storage: &Storage,
    deletion: &Deletion,
) -> Result<usize, String> {
    let staged = storage
        .staged_of(&deletion.user)
        .await
        .map_err(|e| e.to_string())?;
    let mut removed = 0;
    for key in staged {
        let Some(job) = key.staged_job() else {
            continue;
        };
        let record = queue.record(&job).await.map_err(|e| e.to_string())?;
        if record.is_some_and(|r| r.stamp.is_some_and(|stamp| stamp < deletion.stamp)) {
            storage.delete(&key).await.map_err(|e| e.to_string())?;
            removed += 1;
        }
    }
    Ok(removed)
}
