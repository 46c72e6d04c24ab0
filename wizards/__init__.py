from . import collection_interaction_log
