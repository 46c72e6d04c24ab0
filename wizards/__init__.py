from . import collection_interaction_log
from . import collection_dunning_run
