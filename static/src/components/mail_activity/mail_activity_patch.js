import { Activity } from "@mail/core/common/activity_model";
import { patch } from "@web/core/utils/patch";

/**
 * Marking a collection activity done (a call, a follow-up, a broken promise planned on a
 * customer) opens the Log dialog, prefilled, so that its outcome is recorded: logging
 * marks the activity done, and its next action date plans the next one ("Done & Schedule
 * Next" opens the same dialog). Any other activity is marked done as usual.
 */
patch(Activity.prototype, {
    /** @returns {Promise<Object|false>} the Log dialog's action, for a collection activity */
    async collectionLogAction() {
        if (this.res_model !== "res.partner") {
            return false;
        }
        return this.store.env.services.orm.call("mail.activity", "action_collection_log", [
            [this.id],
        ]);
    },
    async markAsDone(attachmentIds = []) {
        if (!attachmentIds.length) {
            const action = await this.collectionLogAction();
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
    async markAsDoneAndScheduleNext() {
        const action = await this.collectionLogAction();
        return action || super.markAsDoneAndScheduleNext(...arguments);
    },
});
