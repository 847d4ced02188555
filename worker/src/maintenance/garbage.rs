//! Deleting avatars that stopped being current, once their retention has
//! passed, and those of a deleted user's at once: every side of each, the
//! whole folder its key is in.

use avatar_common::ObjectKey;
use avatar_common::queue::JobQueue;
use avatar_common::storage::{Storage, StorageError};

use super::BATCH;

/// Deletes the avatars whose deletion is due (superseded ones past their
/// retention, and a deleted user's at once), and forgets them. With
/// `abort_midway` (fault tests), the process aborts after the first object
/// of an avatar with several.
pub(super) async fn collect(queue: &JobQueue, storage: &Storage, abort_midway: bool) {
    let due = match queue.due_garbage(BATCH).await {
        Ok(due) => due,
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the garbage set now");
            return;
        }
    };
    for key in due {
        match delete_avatar(storage, &key, abort_midway).await {
            Ok(objects) => {
                if let Err(e) = queue.forget_garbage(&key).await {
                    tracing::debug!(error = %e, %key, "deleted, but cannot forget it yet");
                }
                tracing::debug!(%key, objects, "deleted an avatar");
            }
            Err(e) => tracing::warn!(error = %e, %key, "cannot delete an avatar yet"),
        }
    }
}

/// Deletes every side of the avatar under `key`, the largest last; returns
/// how many objects there were. Cut short, it is run again from the
/// garbage set, and finds what is left in the folder.
async fn delete_avatar(
    storage: &Storage,
    key: &ObjectKey,
    abort_midway: bool,
) -> Result<usize, StorageError> {
    let mut objects = storage.avatar_objects(key).await?;
    objects.retain(|object| object != key);
    objects.push(key.clone());
    for (i, object) in objects.iter().enumerate() {
        storage.delete(object).await?;
        if abort_midway && i == 0 && objects.len() > 1 {
            tracing::error!(%key, "deleted one object of the avatar; aborting, as AVATARS_FAULT_ABORT_MID_DELETE asks");
            std::process::abort();
        }
    }
    Ok(objects.len())
}
