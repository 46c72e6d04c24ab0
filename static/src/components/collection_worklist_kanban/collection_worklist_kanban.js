import { registry } from "@web/core/registry";
import { KanbanHeader } from "@web/views/kanban/kanban_header";
import { KanbanRenderer } from "@web/views/kanban/kanban_renderer";
import { kanbanView } from "@web/views/kanban/kanban_view";

/** The worklist's column header: the number of customers next to the stage's name,
 * also when the column shows its overdue total (Odoo shows one or the other). */
export class CollectionWorklistKanbanHeader extends KanbanHeader {
    static template = "account_collection.CollectionWorklistKanbanHeader";
}

export class CollectionWorklistKanbanRenderer extends KanbanRenderer {
    static components = { ...KanbanRenderer.components, KanbanHeader: CollectionWorklistKanbanHeader };
}

export const collectionWorklistKanbanView = {
    ...kanbanView,
    Renderer: CollectionWorklistKanbanRenderer,
};

registry.category("views").add("collection_worklist_kanban", collectionWorklistKanbanView);
