from . import collection_interaction_log
from . import collection_dunning_run
from . import collection_aged_receivable_export
from . import collection_communication_postpone
from . import mail_compose_message
from . import collection_invoice_hold
from . import collection_charge_waive
