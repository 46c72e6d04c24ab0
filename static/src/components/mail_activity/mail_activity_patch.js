import { Activity } from "@mail/core/common/activity_model";
import { patch } from "@web/core/utils/patch";

/**
 * Marking a collection activity done (a call, a follow-up, a broken promise planned on a
 * customer) opens the Log dialog, prefilled, so that its outcome is recorded: logging
 * marks the activity done. Any other activity is marked done as usual.
 */
patch(Activity.prototype, {
    async markAsDone(attachmentIds = []) {
        if (this.res_model === "res.partner" && !attachmentIds.length) {
            const action = await this.store.env.services.orm.call(
                "mail.activity",
                "action_collection_log",
                [[this.id]]
            );
            if (action) {
                await new Promise((resolve) =>
                    this.store.env.services.action.doAction(action, { onClose: resolve })
                );
                this.store.activityBroadcastChannel?.postMessage({
                    type: "RELOAD_CHATTER",
                    payload: { id: this.res_id, model: this.res_model },
                });
                return;
            }
        }
        return super.markAsDone(...arguments);
    },
});
