//! Deleting avatars that stopped being current, once their retention has
//! passed.

use avatar_common::queue::JobQueue;
use avatar_common::storage::Storage;

use super::BATCH;

/// Deletes the superseded avatars whose deletion is due, and forgets them.
pub(super) async fn collect(queue: &JobQueue, storage: &Storage) {
    let due = match queue.due_garbage(BATCH).await {
        Ok(due) => due,
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the garbage set now");
            return;
        }
    };
    for key in due {
        match storage.delete(&key).await {
            Ok(()) => {
                if let Err(e) = queue.forget_garbage(&key).await {
                    tracing::debug!(error = %e, %key, "deleted, but cannot forget it yet");
                }
                tracing::debug!(%key, "deleted a superseded avatar");
            }
            Err(e) => tracing::warn!(error = %e, %key, "cannot delete a superseded avatar yet"),
        }
    }
}
