/* rs_follow_impl.h (private to sync/): the follower, the part of an agent's step that brings the target
 * to the head (or pinned) version: conditional read of HEAD and the region's control record,
 * catch-up through the log (parallel fetches, in-order apply with parent and result digests
 * checked), bootstrap from a snapshot, the atomic target write, the journal, and the lagging-HEAD
 * and refused-entry rules (docs/sync.md).
 *
 * Called only from the agent's own thread with the agent's state (rs_agent_impl.h); the agent owns
 * everything these functions touch. Each returns RS_OK or an rs_status with err filled.
 */
#ifndef RS_FOLLOW_IMPL_H
#define RS_FOLLOW_IMPL_H

#include "rs_agent_impl.h"

/* One follow step: brings the target to `pinned` (0: the head). *changed: the target was
 * rewritten. */
int rs_follow(rs_agent *a, uint64_t pinned, bool *changed, rs_error *err);
/* At start: loads the local state (journal, the target's registry) the follower resumes from. */
int rs_follow_load_local(rs_agent *a, rs_error *err);
/* Checks the target against what the agent wrote (digest, local changes); force: read it even
 * when its size and mtime did not change. A deleted target is rewritten. */
int rs_follow_check_target(rs_agent *a, bool force, rs_error *err);

#endif
